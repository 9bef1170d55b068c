// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import memjs from 'memjs';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { MemcachedSessionStore } from '../src/index.js';

describe('unknown options', () => {
  // The client never connects: the options are rejected before any use of it.
  const client = memjs.Client.create('127.0.0.1:1', { logger: { log() {} } });

  it('rejects operationTimeout, suggesting operationTimeoutMs', () => {
    const e = rejection(() => new MemcachedSessionStore({ client, operationTimeout: 1000 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('operationTimeout');
    expect((e as Error).message).toContain('unknown option operationTimeout: did you mean operationTimeoutMs?');
  });

  it('rejects perfix, suggesting prefix', () => {
    expect((rejection(() => new MemcachedSessionStore({ client, perfix: 'a:' } as never)) as Error).message).toContain(
      'unknown option perfix: did you mean prefix?',
    );
  });
});
