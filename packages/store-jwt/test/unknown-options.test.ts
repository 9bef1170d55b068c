// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { JwtSessionStore } from '../src/index.js';

describe('unknown options', () => {
  const secret = 'a-test-secret-that-is-long-enough-for-hs256!';

  it('rejects operationTimeout, suggesting operationTimeoutMs', () => {
    const e = rejection(() => new JwtSessionStore({ secret, operationTimeout: 1000 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('operationTimeout');
    expect((e as Error).message).toContain('unknown option operationTimeout: did you mean operationTimeoutMs?');
  });

  it('rejects secrets and encrypt.secert with the closest names', () => {
    expect((rejection(() => new JwtSessionStore({ secrets: secret } as never)) as Error).message).toContain(
      'unknown option secrets: did you mean secret?',
    );
    const e = rejection(() => new JwtSessionStore({ secret, encrypt: { secert: secret } } as never));
    expect((e as SessionError).field).toBe('encrypt.secert');
    expect((e as Error).message).toContain('unknown option encrypt.secert: did you mean encrypt.secret?');
  });
});
