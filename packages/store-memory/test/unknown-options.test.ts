// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { MemorySessionStore } from '../src/index.js';

describe('unknown options', () => {
  it('rejects maxSession, suggesting maxSessions', () => {
    const e = rejection(() => new MemorySessionStore({ maxSession: 10 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('maxSession');
    expect((e as Error).message).toContain('unknown option maxSession: did you mean maxSessions?');
  });

  it('rejects maxSessionPerUser, suggesting maxSessionsPerUser, and accepts every known option', async () => {
    expect((rejection(() => new MemorySessionStore({ maxSessionPerUser: 3 } as never)) as Error).message).toContain(
      'did you mean maxSessionsPerUser?',
    );
    const store = new MemorySessionStore({
      clock: Date.now,
      maxLifetimeMs: 60_000,
      maxRecordBytes: 4096,
      maxSessions: 10,
      maxBytes: 1_000_000,
      maxSessionsPerUser: 5,
      cleanupIntervalMs: 60_000,
    });
    expect(store).toBeInstanceOf(MemorySessionStore);
    await store.close();
  });
});
