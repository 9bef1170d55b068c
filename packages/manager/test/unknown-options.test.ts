// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { SessionManager } from '../src/index.js';

describe('unknown options', () => {
  it('rejects idleTimeout, suggesting idleTimeoutMs', () => {
    const e = rejection(() => new SessionManager({ store: new MemorySessionStore(), idleTimeout: 1000 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('idleTimeout');
    expect((e as Error).message).toContain('unknown option idleTimeout: did you mean idleTimeoutMs?');
  });
});
