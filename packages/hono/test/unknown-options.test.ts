// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import { SessionManager } from '@sessionkit/manager';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { sessionMiddleware } from '../src/index.js';

describe('unknown options', () => {
  const manager = new SessionManager({ store: new MemorySessionStore() });

  it('rejects cookies, suggesting cookie', () => {
    const e = rejection(() => sessionMiddleware({ manager, cookies: {} } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('cookies');
    expect((e as Error).message).toContain('unknown option cookies: did you mean cookie?');
  });

  it('rejects cookie.sameSites, suggesting cookie.sameSite', () => {
    const e = rejection(() => sessionMiddleware({ manager, cookie: { sameSites: 'Lax' } } as never));
    expect((e as SessionError).field).toBe('cookie.sameSites');
    expect((e as Error).message).toContain('unknown option cookie.sameSites: did you mean cookie.sameSite?');
  });
});
