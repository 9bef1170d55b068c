// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { RedisSessionStore } from '../src/index.js';

describe('unknown options', () => {
  // The client never connects: the options are rejected before any use of it.
  const client = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false });
  afterAll(() => client.disconnect());

  it('rejects operationTimeout, suggesting operationTimeoutMs', () => {
    const e = rejection(() => new RedisSessionStore({ client, operationTimeout: 1000 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('operationTimeout');
    expect((e as Error).message).toContain('unknown option operationTimeout: did you mean operationTimeoutMs?');
  });

  it('rejects perfix and maxSessionPerUser with the closest names', () => {
    expect((rejection(() => new RedisSessionStore({ client, perfix: 'a:' } as never)) as Error).message).toContain(
      'unknown option perfix: did you mean prefix?',
    );
    expect(
      (rejection(() => new RedisSessionStore({ client, maxSessionPerUser: 3 } as never)) as Error).message,
    ).toContain('did you mean maxSessionsPerUser?');
  });
});
