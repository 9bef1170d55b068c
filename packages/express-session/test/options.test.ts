// Construction, argument checks and the session <-> metadata mapping (no server needed).
import { SessionError, type SessionRecord, type SessionStore } from '@sessionkit/core';
import { JwtSessionStore } from '@sessionkit/store-jwt';
import { MemorySessionStore } from '@sessionkit/store-memory';
import expressSession from 'express-session';
import { describe, expect, it, vi } from 'vitest';
import { decodeSession, encodeSession, SessionkitStore } from '../src/index.js';
import { counted } from './backends.js';

function invalidNaming(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (error) {
    expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
    expect((error as SessionError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    return;
  }
  throw new Error(`expected INVALID naming ${field}`);
}

function call<T>(fn: (cb: (err?: unknown, value?: T) => void) => void): Promise<[unknown, T | undefined]> {
  return new Promise((resolve) => fn((err, value) => resolve([err, value])));
}

describe('SessionkitStore options', () => {
  const store = new MemorySessionStore();

  it('store-jwt cannot back it: INVALID naming store at construction', () => {
    const jwt = new JwtSessionStore({ secret: 'a-secret-of-at-least-32-bytes-long!!' });
    invalidNaming(() => new SessionkitStore({ store: jwt }), 'store');
  });

  it('rejects a missing store or one without the methods it needs', () => {
    invalidNaming(() => new SessionkitStore({} as never), 'store');
    invalidNaming(
      () => new SessionkitStore({ store: { capabilities: store.capabilities } as unknown as SessionStore }),
      'store',
    );
    invalidNaming(() => new SessionkitStore(null as never), 'options');
  });

  it('checks every option and names it', () => {
    invalidNaming(() => new SessionkitStore({ store, touchAfterMs: -1 }), 'touchAfterMs');
    invalidNaming(() => new SessionkitStore({ store, touchAfterMs: 1.5 }), 'touchAfterMs');
    invalidNaming(() => new SessionkitStore({ store, defaultTtlMs: 0 }), 'defaultTtlMs');
    invalidNaming(() => new SessionkitStore({ store, hashSessionIds: 'yes' as never }), 'hashSessionIds');
    invalidNaming(() => new SessionkitStore({ store, userOf: 'userId' as never }), 'userOf');
    invalidNaming(() => new SessionkitStore({ store, tenantOf: 1 as never }), 'tenantOf');
    invalidNaming(() => new SessionkitStore({ store, clock: 0 as never }), 'clock');
    invalidNaming(() => new SessionkitStore({ store, tenant: '' }), 'tenant');
    expect(new SessionkitStore({ store, touchAfterMs: 0 }).touchAfterMs).toBe(0);
    expect(new SessionkitStore({ store }).touchAfterMs).toBe(60_000);
  });

  it('a misspelled option is INVALID naming it and the closest known one', () => {
    const wrong = { store, touchAfter: 1000 } as never;
    invalidNaming(() => new SessionkitStore(wrong), 'touchAfter');
    expect(() => new SessionkitStore(wrong)).toThrow(/did you mean touchAfterMs/);
  });

  it('hashes session ids unless told not to', () => {
    const hashed = new SessionkitStore({ store });
    expect(hashed.handleOf('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    expect(new SessionkitStore({ store, hashSessionIds: false }).handleOf('abc')).toBe('abc');
  });

  it('a bad sid, a userOf that returns an object and a bad tenantOf reach the callback as INVALID', async () => {
    const s = new SessionkitStore({ store, tenantOf: () => 'bad\u0000tenant' });
    const cookie = { expires: new Date(Date.now() + 60_000) };
    const [badSid] = await call((cb) => s.get(42 as never, cb as never));
    expect(SessionError.hasCode(badSid, 'INVALID')).toBe(true);
    const [badTenant] = await call((cb) => s.set('sid-1', { cookie } as never, cb));
    expect((badTenant as SessionError).field).toBe('tenantOf');
    const u = new SessionkitStore({ store, userOf: () => ({ id: 1 }) });
    const [badUser] = await call((cb) => u.set('sid-2', { cookie } as never, cb));
    expect((badUser as SessionError).field).toBe('userOf');
    const [cycle] = await call((cb) => {
      const sess: Record<string, unknown> = { cookie };
      sess.self = sess;
      u.set('sid-3', sess as never, cb);
    });
    expect(SessionError.hasCode(cycle, 'INVALID')).toBe(true);
  });

  it('a number user id (passport) is kept as its string; a browser-session cookie lives defaultTtlMs', async () => {
    const now = Date.now();
    const s = new SessionkitStore({ store, defaultTtlMs: 3_600_000, clock: () => now });
    const [err] = await call((cb) =>
      s.set('sid-passport', { cookie: { expires: null }, passport: { user: 7 } } as never, cb),
    );
    expect(err).toBeNull();
    const record = await store.get(s.handleOf('sid-passport'));
    expect(record?.userId).toBe('7');
    expect(record?.expiresAt.getTime()).toBe(now + 3_600_000);
  });

  it('a session whose cookie has expired is deleted, not stored', async () => {
    const s = new SessionkitStore({ store });
    await call((cb) => s.set('sid-old', { cookie: { expires: new Date(Date.now() + 60_000) } } as never, cb));
    expect(await store.get(s.handleOf('sid-old'))).not.toBeNull();
    await call((cb) => s.set('sid-old', { cookie: { expires: new Date(Date.now() - 1) } } as never, cb));
    expect(await store.get(s.handleOf('sid-old'))).toBeNull();
  });
});

describe('touchAfterMs', () => {
  it('skips a touch while the session is fresh, but not once its stored expiry is within half the cookie life', async () => {
    const c = counted(new MemorySessionStore());
    let t = Date.now();
    const s = new SessionkitStore({ store: c.store, clock: () => t });
    const cookie = () => ({ expires: new Date(t + 30_000) }); // a 30 s cookie, shorter than touchAfterMs
    await call((cb) => s.set('sid-short', { cookie: cookie() } as never, cb));
    const [, loaded] = await call((cb) => s.get('sid-short', cb as never));
    expect(loaded).toBeTruthy();
    t += 5_000;
    await call((cb) => s.touch('sid-short', { cookie: cookie() } as never, cb));
    expect(c.counts.extend ?? 0).toBe(0);
    t += 15_000;
    await call((cb) => s.touch('sid-short', { cookie: cookie() } as never, cb));
    expect(c.counts.extend).toBe(1);
  });
});

describe('touch writes nothing for a fresh session', () => {
  it('calls back on the next tick (never synchronously) for a fresh session, through the backend when it writes', async () => {
    const c = counted(new MemorySessionStore());
    let t = Date.now();
    const s = new SessionkitStore({ store: c.store, clock: () => t });
    const cookie = () => ({ expires: new Date(t + 86_400_000) });
    await call((cb) => s.set('sid-tick', { cookie: cookie(), userId: 'sam' } as never, cb));
    await call((cb) => s.get('sid-tick', cb as never));
    let calledBack: unknown = 'not yet';
    s.touch('sid-tick', { cookie: cookie() } as never, (err) => {
      calledBack = err;
    });
    expect(calledBack).toBe('not yet'); // not before touch returned
    await new Promise((resolve) => process.nextTick(resolve));
    expect(calledBack).toBeNull(); // on the next tick: no backend round trip
    expect(c.counts.extend ?? 0).toBe(0);

    t += 61_000; // past touchAfterMs: the expiry is written back, through the backend
    let later: unknown = 'not yet';
    const done = new Promise<void>((resolve) =>
      s.touch('sid-tick', { cookie: cookie() } as never, (err) => {
        later = err;
        resolve();
      }),
    );
    expect(later).toBe('not yet');
    await done;
    expect(later).toBeNull();
    expect(c.counts.extend).toBe(1);
  });

  it('a session this process never read, a bad sid or a clock that throws go through refresh (the backend or its error)', async () => {
    const c = counted(new MemorySessionStore());
    let fail = false;
    const s = new SessionkitStore({
      store: c.store,
      clock: () => {
        if (fail) throw new Error('clock broke');
        return Date.now();
      },
    });
    const cookie = { expires: new Date(Date.now() + 60_000) };
    let unread: unknown = 'not yet';
    s.touch('sid-never-read', { cookie } as never, (err) => {
      unread = err;
    });
    expect(unread).toBe('not yet');
    const [bad] = await call((cb) => s.touch('' as never, { cookie } as never, cb));
    expect(SessionError.hasCode(bad, 'INVALID')).toBe(true);
    await call((cb) => s.set('sid-clock', { cookie, userId: 'cleo' } as never, cb));
    await call((cb) => s.get('sid-clock', cb as never));
    fail = true;
    const [clockErr] = await call((cb) => s.touch('sid-clock', { cookie } as never, cb));
    expect(SessionError.isInstance(clockErr)).toBe(true);
    expect((clockErr as Error).message).toContain('clock broke');
  });
});

describe('the digest of what is stored (the record transactionId)', () => {
  it('a change inside a nested object of a read session is saved; saving it again unchanged writes nothing', async () => {
    const c = counted(new MemorySessionStore());
    const s = new SessionkitStore({ store: c.store });
    const cookie = { expires: new Date(Date.now() + 86_400_000) };
    await call((cb) => s.set('sid-nested', { cookie, userId: 'nia', prefs: { theme: 'light' } } as never, cb));
    const [, read] = await call<Record<string, { theme: string }>>((cb) => s.get('sid-nested', cb as never));
    (read?.prefs as { theme: string }).theme = 'dark'; // mutated in place, as an app does
    await call((cb) => s.set('sid-nested', read as never, cb));
    const stored = await c.store.get(s.handleOf('sid-nested'));
    expect((stored?.metadata as { prefs: unknown } | undefined)?.prefs).toEqual({ theme: 'dark' });
    const updates = c.counts.update ?? 0;
    const [, again] = await call<Record<string, unknown>>((cb) => s.get('sid-nested', cb as never));
    await call((cb) => s.set('sid-nested', again as never, cb));
    expect(c.counts.update ?? 0).toBe(updates);
  });

  it('a record without a digest (written before digests were stored) is written once by an unchanged save, then skipped', async () => {
    const c = counted(new MemorySessionStore());
    const s = new SessionkitStore({ store: c.store });
    const cookie = { expires: new Date(Date.now() + 86_400_000) };
    await call((cb) => s.set('sid-old-format', { cookie, userId: 'otto' } as never, cb));
    const handle = s.handleOf('sid-old-format');
    const stored = await c.store.get(handle);
    expect(stored?.transactionId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await c.store.update({ ...(stored as SessionRecord), transactionId: '' });
    const fresh = new SessionkitStore({ store: c.store }); // another process: nothing remembered
    const updates = c.counts.update ?? 0;
    for (let i = 0; i < 3; i++) {
      const [, read] = await call<Record<string, unknown>>((cb) => fresh.get('sid-old-format', cb as never));
      await call((cb) => fresh.set('sid-old-format', read as never, cb));
    }
    expect((c.counts.update ?? 0) - updates).toBe(1);
    expect((await c.store.get(handle))?.transactionId).toBe(stored?.transactionId);
  });

  it('originalMaxAge drifting by a millisecond (express-session recomputes it from the clock) writes nothing; a new cookie lifetime is written', async () => {
    const c = counted(new MemorySessionStore());
    const s = new SessionkitStore({ store: c.store });
    const cookie = (originalMaxAge: number) => ({ originalMaxAge, expires: new Date(Date.now() + originalMaxAge) });
    await call((cb) => s.set('sid-drift', { cookie: cookie(86_400_000), userId: 'dora' } as never, cb));
    const updates = c.counts.update ?? 0;
    for (const drifted of [86_399_999, 86_399_998, 86_400_000]) {
      const [, read] = await call<Record<string, unknown>>((cb) => s.get('sid-drift', cb as never));
      await call((cb) => s.set('sid-drift', { ...read, cookie: cookie(drifted) } as never, cb));
    }
    expect((c.counts.update ?? 0) - updates).toBe(0);
    const [, read] = await call<Record<string, unknown>>((cb) => s.get('sid-drift', cb as never));
    await call((cb) => s.set('sid-drift', { ...read, cookie: cookie(3_600_000) } as never, cb)); // "remember me" off
    expect((c.counts.update ?? 0) - updates).toBe(1);
    const stored = await c.store.get(s.handleOf('sid-drift'));
    expect((stored?.metadata as { cookie?: { originalMaxAge?: number } } | undefined)?.cookie?.originalMaxAge).toBe(
      3_600_000,
    );
  });

  it("with express-session's own Cookie and a clock that ticks while it resets the expiry, an unchanged resave writes nothing", async () => {
    const c = counted(new MemorySessionStore());
    const s = new SessionkitStore({ store: c.store });
    const sid = 'sid-cookie-tick';
    const req = { sessionID: sid, sessionStore: s } as never;
    const cookie = new expressSession.Cookie();
    cookie.maxAge = 86_400_000;
    s.createSession(req, { cookie, userId: 'tess' } as never);
    await call((cb) => s.set(sid, (req as { session: never }).session, cb));
    const updates = c.counts.update ?? 0;
    let t = Date.now();
    const now = vi.spyOn(Date, 'now').mockImplementation(() => t++); // each reading a millisecond later
    try {
      const drifted: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [, read] = await call<Record<string, unknown>>((cb) => s.get(sid, cb as never));
        const session = s.createSession(req, read as never); // as express-session loads it
        session.touch(); // as its end() does: the expiry is reset, originalMaxAge recomputed
        drifted.push(session.cookie.originalMaxAge as number);
        await call((cb) => s.set(sid, session, cb));
      }
      expect(drifted.some((ms) => ms !== 86_400_000)).toBe(true); // the drift is real
    } finally {
      now.mockRestore();
    }
    expect((c.counts.update ?? 0) - updates).toBe(0);
  });
});

describe('concurrent requests on one session', () => {
  it('a touch that finishes after a newer save does not bring back the older digest (a flash set, then cleared, is saved cleared)', async () => {
    let t = Date.UTC(2026, 0, 1);
    const memory = new MemorySessionStore({ clock: () => t });
    let release: () => void = () => {};
    let gate: Promise<void> | undefined;
    // the same store, with an extend that can be held back (a slow backend write)
    const slow: SessionStore = {
      capabilities: memory.capabilities,
      create: (record) => memory.create(record),
      get: (id) => memory.get(id),
      update: (record) => memory.update(record),
      delete: (id) => memory.delete(id),
      deleteByUser: (userId, tenantId) => memory.deleteByUser(userId, tenantId),
      extend: async (id, durationMs) => {
        if (gate) await gate;
        return memory.extend(id, durationMs);
      },
      touch: (id) => memory.touch(id),
      cleanupExpired: () => memory.cleanupExpired(),
      listByUser: (userId, tenantId) => memory.listByUser(userId, tenantId),
      close: () => memory.close(),
    };
    const s = new SessionkitStore({ store: slow, clock: () => t });
    const sess = (extra: object = {}) => ({ cookie: { expires: new Date(t + 86_400_000) }, userId: 'alice', ...extra });
    await call((cb) => s.set('sid-race', sess() as never, cb));
    t += 120_000; // past touchAfterMs: request A's touch writes
    await call((cb) => s.get('sid-race', cb as never));
    gate = new Promise((resolve) => {
      release = resolve;
    });
    const touchedA = call((cb) => s.touch('sid-race', sess() as never, cb));
    const [, b] = await call<Record<string, unknown>>((cb) => s.get('sid-race', cb as never)); // request B
    await call((cb) => s.set('sid-race', { ...b, flash: 'saved' } as never, cb));
    const [, d] = await call<Record<string, unknown>>((cb) => s.get('sid-race', cb as never)); // request D
    expect(d?.flash).toBe('saved');
    release();
    expect((await touchedA)[0]).toBeNull();
    t += 1000;
    const { flash: _flash, ...cleared } = d as Record<string, unknown>;
    await call((cb) => s.set('sid-race', cleared as never, cb));
    const stored = await memory.get(s.handleOf('sid-race'));
    expect((stored?.metadata as Record<string, unknown> | undefined)?.flash).toBeUndefined();
  });
});

describe('handles', () => {
  it('stay the SHA-256 of the sid past the size of the handle cache', async () => {
    const { createHash } = await import('node:crypto');
    const s = new SessionkitStore({ store: new MemorySessionStore() });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 12_000; i++) {
        const sid = `sid-${i}`;
        expect(s.handleOf(sid)).toBe(createHash('sha256').update(sid).digest('base64url'));
      }
    }
  });
});

describe('no resurrection', () => {
  it('a session revoked after this request read it is not brought back by its set or touch', async () => {
    const store = new MemorySessionStore();
    const s = new SessionkitStore({ store, touchAfterMs: 0 });
    const cookie = { expires: new Date(Date.now() + 60_000) };
    await call((cb) => s.set('sid-r', { cookie, userId: 'rita' } as never, cb));
    const [, loaded] = await call<Record<string, unknown>>((cb) => s.get('sid-r', cb as never));
    expect(loaded?.userId).toBe('rita');
    expect(await s.revokeUser('rita')).toBe(1); // "log out everywhere" from another device
    const [setErr] = await call((cb) => s.set('sid-r', { ...loaded, cookie, cart: 'changed' } as never, cb));
    const [touchErr] = await call((cb) => s.touch('sid-r', { ...loaded, cookie } as never, cb));
    expect([setErr, touchErr]).toEqual([null, null]);
    expect(await store.get(s.handleOf('sid-r'))).toBeNull();
    expect(await s.listSessions('rita')).toEqual([]);
  });
});

describe('the session mapping', () => {
  it('round-trips JSON, Dates anywhere, and objects that look like its tags', () => {
    const session = {
      cookie: { expires: new Date('2030-01-01T00:00:00.123Z'), originalMaxAge: 5, httpOnly: true },
      at: new Date(1),
      list: [new Date(2), { $date: 'x' }, { $obj: 1 }, null, 'text'],
      deep: { a: { b: { $date: '2020-01-01T00:00:00.000Z' } } },
    };
    const decoded = decodeSession(JSON.parse(JSON.stringify(encodeSession(session))));
    expect(decoded).toEqual(session);
    expect((decoded as { at: Date }).at.getTime()).toBe(1);
    expect((decoded as { deep: { a: { b: unknown } } }).deep.a.b).toEqual({ $date: '2020-01-01T00:00:00.000Z' });
  });

  it('follows JSON.stringify otherwise: undefined dropped, toJSON used, NaN as null', () => {
    const encoded = encodeSession({ cookie: {}, u: undefined, f: () => 1, n: Number.NaN, j: { toJSON: () => 'j' } });
    expect(encoded).toEqual({ cookie: {}, n: null, j: 'j' });
  });
});
