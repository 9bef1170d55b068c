import { SessionError, tenantId } from '@sessionkit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MAX_SESSIONS, MemorySessionStore } from '../src/index.js';
import { acme, makeRecord, rejectsWith, testClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('constructor options', () => {
  it('rejects bad options with INVALID naming the option', () => {
    const bad: [unknown, string][] = [
      [{ maxSessions: 0 }, 'maxSessions'],
      [{ maxSessions: -1 }, 'maxSessions'],
      [{ maxSessions: 1.5 }, 'maxSessions'],
      [{ maxSessions: '10' }, 'maxSessions'],
      [{ maxSessions: Number.NaN }, 'maxSessions'],
      [{ cleanupIntervalMs: 0 }, 'cleanupIntervalMs'],
      [{ cleanupIntervalMs: 2 ** 31 }, 'cleanupIntervalMs'],
      [{ cleanupIntervalMs: Number.POSITIVE_INFINITY }, 'cleanupIntervalMs'],
      [{ clock: 5 }, 'clock'],
      [{ maxLifetimeMs: -5 }, 'maxLifetimeMs'],
      [{ maxRecordBytes: 10 }, 'maxRecordBytes'],
      [null, 'options'],
      ['x', 'options'],
    ];
    for (const [options, field] of bad) {
      let caught: unknown;
      try {
        new MemorySessionStore(options as never);
      } catch (error) {
        caught = error;
      }
      expect(SessionError.hasCode(caught, 'INVALID'), `${JSON.stringify(options)} should be INVALID`).toBe(true);
      expect((caught as SessionError).field).toBe(field);
      expect((caught as SessionError).message).toContain('[sessionkit/memory]');
    }
  });

  it('accepts no options, Infinity as maxSessions, and declares every capability', async () => {
    const store = new MemorySessionStore();
    expect(store.capabilities).toEqual({
      list: true,
      revoke: true,
      revokeUser: true,
      mutate: true,
      cleanup: true,
      customIds: true,
    });
    expect(DEFAULT_MAX_SESSIONS).toBe(100_000);
    await store.close();
    await new MemorySessionStore({ maxSessions: Number.POSITIVE_INFINITY }).close();
  });
});

describe('rejections', () => {
  it('never throws synchronously: bad input and a failing clock come back as rejected promises', async () => {
    const store = new MemorySessionStore();
    const calls = [
      () => store.get(1 as never),
      () => store.create(null as never),
      () => store.update({} as never),
      () => store.delete(undefined as never),
      () => store.deleteByUser('', acme),
      () => store.extend('x', -1),
      () => store.touch({} as never),
      () => store.listByUser('u', '' as never),
    ];
    for (const call of calls) {
      const p = call();
      expect(p).toBeInstanceOf(Promise);
      await rejectsWith(p, 'INVALID');
    }
    const boom = new Error('clock broke');
    const broken = new MemorySessionStore({
      clock: () => {
        throw boom;
      },
    });
    const error = await rejectsWith(broken.listByUser('u', acme), 'STORAGE');
    expect(error.cause).toBe(boom);
    await rejectsWith(broken.create(makeRecord(Date.now())), 'STORAGE');
  });
});

describe('throwing getters and clocks', () => {
  it('a metadata or record getter that throws rejects a SessionError STORAGE carrying it, and stores nothing', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const boom = new Error('getter broke');
    const throwing = () => {
      const metadata = { ok: 1 };
      Object.defineProperty(metadata, 'bad', {
        enumerable: true,
        get() {
          throw boom;
        },
      });
      return metadata;
    };
    let error = await rejectsWith(store.create(makeRecord(clock.now, { metadata: throwing() })), 'STORAGE');
    expect(error.cause).toBe(boom);
    const record = makeRecord(clock.now);
    Object.defineProperty(record, 'userId', {
      get() {
        throw boom;
      },
    });
    error = await rejectsWith(store.create(record), 'STORAGE');
    expect(error.cause).toBe(boom);
    expect(store.stats()).toMatchObject({ sessions: 0, users: 0, bytes: 0 });

    const id = await store.create(makeRecord(clock.now));
    const current = await store.get(id);
    error = await rejectsWith(
      store.update({ ...(current as NonNullable<typeof current>), metadata: throwing() }),
      'STORAGE',
    );
    expect(error.cause).toBe(boom);
    expect(await store.get(id)).toEqual(current);
  });

  it('a clock that throws makes every method that reads it reject a SessionError STORAGE carrying it', async () => {
    const clock = testClock();
    let fail = false;
    const boom = new Error('clock broke');
    const store = new MemorySessionStore({
      clock: () => {
        if (fail) throw boom;
        return clock.now;
      },
    });
    const id = await store.create(makeRecord(clock.now));
    const current = (await store.get(id)) as NonNullable<Awaited<ReturnType<typeof store.get>>>;
    fail = true;
    const calls: [string, () => Promise<unknown>][] = [
      ['create', () => store.create(makeRecord(clock.now))],
      ['get', () => store.get(id)],
      ['update', () => store.update(current)],
      ['extend', () => store.extend(id, 1000)],
      ['touch', () => store.touch(id)],
      ['listByUser', () => store.listByUser('user-1', acme)],
      ['deleteByUser', () => store.deleteByUser('user-1', acme)],
      ['cleanupExpired', () => store.cleanupExpired()],
    ];
    for (const [name, call] of calls) {
      const error = await rejectsWith(call(), 'STORAGE');
      expect(error.cause, name).toBe(boom);
      expect(error.operation, name).toBe(name);
    }
    // A missing session is NOT_FOUND before the clock is read, as in every store.
    await rejectsWith(store.touch('no-such-id'), 'NOT_FOUND');
    await rejectsWith(store.extend('no-such-id', 1000), 'NOT_FOUND');
    fail = false;
    expect(await store.get(id)).toEqual(current); // nothing changed
  });
});

describe('copy in, copy out', () => {
  it('a caller mutating the record it passed to create or update changes nothing stored', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const input = makeRecord(clock.now, { metadata: { a: { b: [1, 2] } }, factorsUsed: ['password'] });
    const id = await store.create(input);
    (input.metadata as { a: { b: number[] } }).a.b.push(3);
    input.factorsUsed.push('totp');
    input.expiresAt.setTime(0);
    input.createdAt.setTime(0);
    const got = await store.get(id);
    expect(got?.metadata).toEqual({ a: { b: [1, 2] } });
    expect(got?.factorsUsed).toEqual(['password']);
    expect(got?.expiresAt.getTime()).toBe(clock.now + 60_000);
    expect(got?.createdAt.getTime()).toBe(clock.now);

    const next = { ...(got as NonNullable<typeof got>), metadata: { x: [1] }, factorsUsed: ['sms'] };
    await store.update(next);
    (next.metadata as { x: number[] }).x.push(2);
    next.factorsUsed.push('webauthn');
    next.expiresAt.setTime(1);
    const after = await store.get(id);
    expect(after?.metadata).toEqual({ x: [1] });
    expect(after?.factorsUsed).toEqual(['sms']);
    expect(after?.expiresAt.getTime()).toBe(clock.now + 60_000);
  });

  it('a caller mutating a record returned by get or listByUser changes nothing stored', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const id = await store.create(makeRecord(clock.now, { metadata: { deep: { list: [{ k: 'v' }] } } }));
    const first = await store.get(id);
    if (!first) throw new Error('missing');
    (first.metadata as { deep: { list: { k: string }[] } }).deep.list[0]!.k = 'changed';
    first.factorsUsed.length = 0;
    first.lastActivityAt.setTime(0);
    first.expiresAt.setTime(0);
    first.userId = 'someone-else';
    const [listed] = await store.listByUser('user-1', acme);
    if (!listed) throw new Error('missing');
    (listed.metadata as { deep: object }).deep = {};
    listed.createdAt.setTime(0);
    const again = await store.get(id);
    expect(again).toEqual(makeRecord(clock.now, { id, metadata: { deep: { list: [{ k: 'v' }] } } }));
    // Two reads never share objects.
    const other = await store.get(id);
    expect(other).not.toBe(again);
    expect(other?.metadata).not.toBe(again?.metadata);
    expect(other?.factorsUsed).not.toBe(again?.factorsUsed);
    expect(other?.createdAt).not.toBe(again?.createdAt);
  });

  it('ids, users and metadata that spell the stored field names round-trip exactly', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const tricky = ',"transactionId":"x","createdAt":1,"metadata":{}}';
    const record = makeRecord(clock.now, {
      id: `id${tricky}`,
      userId: `u${tricky}`,
      tenantId: `t${tricky}`,
      transactionId: tricky,
      factorsUsed: [tricky],
      metadata: { a: 0, createdAt: 1, transactionId: tricky, ',"createdAt":': [tricky] },
    });
    await store.create(record);
    expect(await store.get(record.id)).toEqual(record);
    expect(await store.listByUser(record.userId, record.tenantId)).toEqual([record]);
  });

  it('keeps "__proto__" metadata keys as data, never as prototypes', async () => {
    const store = new MemorySessionStore();
    const metadata = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
    const id = await store.create(makeRecord(Date.now(), { metadata }));
    const got = await store.get(id);
    expect(Object.keys(got?.metadata as object)).toEqual(['__proto__', 'ok']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(got?.metadata)).toBe(Object.prototype);
  });
});

describe('times', () => {
  it('expires exactly at expiresAt (<= now), by the store clock', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const id = await store.create(makeRecord(clock.now, { ttl: 1000 }));
    clock.advance(999);
    await store.touch(id);
    expect((await store.get(id))?.lastActivityAt.getTime()).toBe(clock.now);
    clock.advance(1);
    await rejectsWith(store.get(id), 'EXPIRED');
    await rejectsWith(store.touch(id), 'EXPIRED');
    await rejectsWith(store.extend(id, 5000), 'EXPIRED');
    expect(await store.listByUser('user-1', acme)).toEqual([]);
    expect(await store.cleanupExpired()).toBe(1);
    expect(await store.get(id)).toBeNull();
  });

  it('stores the integer milliseconds a Date holds even when the clock returns fractions', async () => {
    const clock = testClock();
    clock.now += 0.75;
    const store = new MemorySessionStore({ clock: clock.read });
    const id = await store.create(makeRecord(Math.floor(clock.now), { ttl: 10_000 }));
    clock.advance(100);
    await store.touch(id);
    let got = await store.get(id);
    expect(got?.lastActivityAt.getTime()).toBe(Math.trunc(clock.now));
    await store.extend(id, 1);
    got = await store.get(id);
    expect(got?.expiresAt.getTime()).toBe(Math.trunc(clock.now + 1));
    expect(got?.expiresAt.getTime()).toBeGreaterThan(clock.now);
    // The cleanup agrees with get about the boundary.
    clock.advance(0.5);
    await rejectsWith(store.get(id), 'EXPIRED');
    expect(await store.cleanupExpired()).toBe(1);
  });

  it('extend past the largest Date is INVALID naming durationMs and changes nothing', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const id = await store.create(makeRecord(clock.now));
    await rejectsWith(store.extend(id, 8.64e15), 'INVALID', 'durationMs');
    expect((await store.get(id))?.expiresAt.getTime()).toBe(clock.now + 60_000);
  });

  it('extend and update move a session in the expiry index', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const a = await store.create(makeRecord(clock.now, { ttl: 1000 }));
    const b = await store.create(makeRecord(clock.now, { ttl: 1000 }));
    const c = await store.create(makeRecord(clock.now, { ttl: 10_000 }));
    await store.extend(a, 5000);
    const rb = await store.get(b);
    await store.update({ ...(rb as NonNullable<typeof rb>), expiresAt: new Date(clock.now + 7000) });
    const rc = await store.get(c);
    await store.update({ ...(rc as NonNullable<typeof rc>), expiresAt: new Date(clock.now + 500) });
    clock.advance(1000);
    expect(await store.cleanupExpired()).toBe(1); // c only
    expect(await store.get(c)).toBeNull();
    clock.advance(4000);
    expect(await store.cleanupExpired()).toBe(1); // a
    clock.advance(2000);
    expect(await store.cleanupExpired()).toBe(1); // b
    expect(store.stats()).toMatchObject({ sessions: 0, users: 0, expiryBuckets: 0 });
  });
});

describe('expiry moves within one bucket', () => {
  it('an update that brings expiresAt earlier inside the bucket being swept is still cleaned up on time', async () => {
    const clock = testClock(); // second-aligned: bucket [T+1000, T+2000)
    const store = new MemorySessionStore({ clock: clock.read });
    const a = await store.create(makeRecord(clock.now, { ttl: 1100 }));
    const b = await store.create(makeRecord(clock.now, { ttl: 1900 }));
    clock.advance(1200);
    expect(await store.cleanupExpired()).toBe(1); // a; the bucket's lower bound is now T+1900
    expect(await store.get(a)).toBeNull();
    const rb = await store.get(b);
    await store.update({ ...(rb as NonNullable<typeof rb>), expiresAt: new Date(clock.now + 100) }); // T+1300
    clock.advance(100);
    await rejectsWith(store.get(b), 'EXPIRED');
    expect(await store.cleanupExpired()).toBe(1);
    expect(store.stats()).toMatchObject({ sessions: 0, expiryBuckets: 0 });
  });
});

describe('expiry heap', () => {
  it('stays bounded when sessions keep moving between buckets and nothing ever sweeps', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await store.create(makeRecord(clock.now, { userId: `u${i}`, ttl: 60_000 })));
    for (let step = 0; step < 20_000; step++) {
      clock.advance(1000); // every extend lands in a new one-second bucket
      await store.extend(ids[step % ids.length] as string, 60_000);
    }
    const stats = store.stats();
    expect(stats.sessions).toBe(10);
    expect(stats.expiryBuckets).toBeLessThanOrEqual(10);
    expect(stats.expiryHeapKeys).toBeLessThanOrEqual(2 * stats.expiryBuckets + 1025);
    // The rebuilt heap still orders expiry correctly.
    // The last ten extends ran one second apart: all but the latest have expired 59 s on.
    clock.advance(59_000);
    expect(await store.cleanupExpired()).toBe(9);
    clock.advance(1_000);
    expect(await store.cleanupExpired()).toBe(1);
    expect(store.stats()).toMatchObject({ sessions: 0, expiryBuckets: 0 });
  });
});

describe('maxSessions', () => {
  it('removes expired sessions first, then evicts the session that expires soonest', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: 3 });
    const soon = await store.create(makeRecord(clock.now, { ttl: 2_000, userId: 'a' }));
    const later = await store.create(makeRecord(clock.now, { ttl: 9_000, userId: 'a' }));
    const dead = await store.create(makeRecord(clock.now, { ttl: 500, userId: 'b' }));
    clock.advance(600); // `dead` has expired
    const fourth = await store.create(makeRecord(clock.now, { ttl: 5_000, userId: 'a' }));
    expect(await store.get(dead)).toBeNull();
    expect(store.stats()).toMatchObject({ sessions: 3, evicted: 0, users: 1 });

    const fifth = await store.create(makeRecord(clock.now, { ttl: 7_000, userId: 'c' }));
    expect(await store.get(soon)).toBeNull(); // the soonest to expire went
    expect(store.stats()).toMatchObject({ sessions: 3, evicted: 1, users: 2 });
    expect((await store.listByUser('a', acme)).map((r) => r.id).sort()).toEqual([later, fourth].sort());
    expect((await store.listByUser('c', acme)).map((r) => r.id)).toEqual([fifth]);
    expect(await store.listByUser('b', acme)).toEqual([]);
  });

  it('keeps the per-user index exact through thousands of evictions', async () => {
    const clock = testClock();
    const max = 50;
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: max });
    const live = new Map<string, { user: string; tenant: string; expiresAt: number }>();
    const users = ['u', 'u:1', 'u|1', 'ü'];
    const tenants = ['t', 't:u', 'acme'];
    for (let i = 0; i < 3000; i++) {
      const user = users[i % users.length] as string;
      const tenant = tenants[(i >> 2) % tenants.length] as string;
      const ttl = 1000 + ((i * 7919) % 20_000);
      const id = await store.create(makeRecord(clock.now, { ttl, userId: user, tenantId: tenant }));
      live.set(id, { user, tenant, expiresAt: clock.now + ttl });
      if (i % 100 === 99) clock.advance(250);
    }
    expect(store.stats().sessions).toBe(max);
    let listed = 0;
    for (const user of users) {
      for (const tenant of tenants) {
        const rows = await store.listByUser(user, tenantId(tenant));
        for (const row of rows) {
          expect(row.userId).toBe(user);
          expect(row.tenantId).toBe(tenant);
          expect(live.has(row.id)).toBe(true);
          expect(await store.get(row.id)).toEqual(row);
        }
        listed += rows.length;
      }
    }
    const stats = store.stats();
    expect(listed).toBeLessThanOrEqual(max);
    expect(stats.evicted).toBeGreaterThan(2000);
    expect(stats.evicted).toBeLessThan(3000 - max + 1);
    // Every stored session is in exactly one user's list once expired ones are cleaned up.
    await store.cleanupExpired();
    let total = 0;
    for (const user of users)
      for (const tenant of tenants) total += (await store.listByUser(user, tenantId(tenant))).length;
    expect(total).toBe(store.stats().sessions);
    let deleted = 0;
    for (const user of users) for (const tenant of tenants) deleted += await store.deleteByUser(user, tenantId(tenant));
    expect(deleted).toBe(total);
    expect(store.stats()).toMatchObject({ sessions: 0, users: 0, expiryBuckets: 0 });
  });

  it('never evicts to make room for a create that fails', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: 1 });
    const id = await store.create(makeRecord(clock.now, { id: 'fixed' }));
    await rejectsWith(store.create(makeRecord(clock.now, { id: 'fixed' })), 'CONFLICT');
    await rejectsWith(store.create(makeRecord(clock.now, { userId: '' })), 'INVALID', 'record.userId');
    expect(await store.get(id)).not.toBeNull();
    expect(store.stats().evicted).toBe(0);
  });
});

describe('expiry index cost', () => {
  it('cleanupExpired examines only what has expired, however many sessions are live', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 20_000; i++) {
      await store.create(makeRecord(clock.now, { userId: `live-${i % 500}`, ttl: 3_600_000 + i }));
    }
    const examined = () => store.stats().sweepExamined;
    const before = examined();
    expect(await store.cleanupExpired()).toBe(0);
    expect(examined() - before).toBe(0);

    for (let i = 0; i < 25; i++) await store.create(makeRecord(clock.now, { userId: 'short', ttl: 10 + i }));
    clock.advance(2_000);
    const start = examined();
    expect(await store.cleanupExpired()).toBe(25);
    expect(examined() - start).toBe(25);
    expect(store.stats().sessions).toBe(20_000);
  });

  it('scans the bucket holding now only when something in it may have expired', async () => {
    const clock = testClock(); // second-aligned
    const store = new MemorySessionStore({ clock: clock.read });
    for (let i = 0; i < 100; i++) await store.create(makeRecord(clock.now, { ttl: 1500 + (i % 400) }));
    const early = await store.create(makeRecord(clock.now, { ttl: 1200 }));
    clock.advance(1100); // all in the bucket [1000, 2000); none expired
    let mark = store.stats().sweepExamined;
    expect(await store.cleanupExpired()).toBe(0);
    expect(store.stats().sweepExamined - mark).toBe(0);
    clock.advance(100); // `early` expires now: one scan of that bucket
    mark = store.stats().sweepExamined;
    expect(await store.cleanupExpired()).toBe(1);
    expect(store.stats().sweepExamined - mark).toBe(101);
    expect(await store.get(early)).toBeNull();
    mark = store.stats().sweepExamined;
    expect(await store.cleanupExpired()).toBe(0); // its lower bound now says 1500
    expect(store.stats().sweepExamined - mark).toBe(0);
    clock.advance(350); // now 1550: the sessions with ttl 1500..1550 expire
    expect(await store.cleanupExpired()).toBe(51);
    expect(store.stats().sessions).toBe(49);
  });

  it('removes a backlog larger than one batch exactly once across concurrent cleanups', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: Number.POSITIVE_INFINITY });
    const n = 25_000;
    for (let i = 0; i < n; i++)
      await store.create(makeRecord(clock.now, { userId: `u${i % 97}`, ttl: 1 + (i % 5000) }));
    const keep = await store.create(makeRecord(clock.now, { ttl: 60_000 }));
    clock.advance(10_000);
    const results = await Promise.all([store.cleanupExpired(), store.cleanupExpired(), store.cleanupExpired()]);
    expect(results.reduce((a, b) => a + b, 0)).toBe(n);
    expect(store.stats()).toMatchObject({ sessions: 1, users: 1 });
    expect(await store.get(keep)).not.toBeNull();
  });
});

describe('races with a multi-batch cleanup', () => {
  it('creates, deletes, extends and deleteByUser between cleanup batches leave every index exact', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: Number.POSITIVE_INFINITY });
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const live = new Map<string, string>(); // id -> user
    const dead = new Map<string, string>();
    for (let i = 0; i < 32_000; i++) {
      const user = users[i % users.length] as string;
      const expiring = i % 3 !== 0;
      const id = await store.create(makeRecord(clock.now, { userId: user, ttl: expiring ? 1 + (i % 3000) : 600_000 }));
      (expiring ? dead : live).set(id, user);
    }
    clock.advance(5_000);
    const cleanup = store.cleanupExpired();
    let removedByOthers = 0;
    const deadIds = [...dead.keys()];
    const liveIds = [...live.keys()];
    for (let round = 0; round < 6; round++) {
      await new Promise((resolve) => setImmediate(resolve)); // let a batch run
      // Every method runs synchronously when called, so stats() right after a call shows its effect.
      for (const id of deadIds.splice(0, 500)) {
        const before = store.stats().sessions;
        void store.delete(id);
        removedByOthers += before - store.stats().sessions;
      }
      // Extend and delete some live sessions, create new ones.
      for (const id of liveIds.splice(0, 50)) if (live.has(id)) await store.extend(id, 900_000);
      for (const id of liveIds.splice(0, 50)) {
        await store.delete(id);
        live.delete(id);
      }
      for (let i = 0; i < 50; i++) {
        const user = users[(round * 50 + i) % users.length] as string;
        live.set(await store.create(makeRecord(clock.now, { userId: user, ttl: 300_000 })), user);
      }
      // Log one user out everywhere: it counts only their live sessions.
      const victim = users[round] as string;
      const before = store.stats().sessions;
      const pending = store.deleteByUser(victim, acme);
      const after = store.stats().sessions;
      const count = await pending;
      const liveTheirs = [...live].filter(([, u]) => u === victim).map(([id]) => id);
      expect(count).toBe(liveTheirs.length);
      for (const id of liveTheirs) live.delete(id);
      removedByOthers += before - after - count; // the expired ones it removed
    }
    const removedByCleanup = await cleanup;
    expect(removedByCleanup + removedByOthers).toBe(dead.size);
    expect(await store.cleanupExpired()).toBe(0);
    expect(store.stats().sessions).toBe(live.size);
    let listed = 0;
    for (const user of users) {
      const rows = await store.listByUser(user, acme);
      for (const row of rows) expect(live.get(row.id)).toBe(user);
      listed += rows.length;
    }
    expect(listed).toBe(live.size);
  });
});

describe('background sweep', () => {
  it('runs cleanupExpired every cleanupIntervalMs on an unref-ed timer until close()', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, cleanupIntervalMs: 1000 });
    await store.create(makeRecord(clock.now, { ttl: 500 }));
    const keep = await store.create(makeRecord(clock.now, { ttl: 5_000 }));
    clock.advance(600);
    expect(store.stats().sessions).toBe(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(store.stats().sessions).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.stats().sessions).toBe(1);
    expect(await store.get(keep)).not.toBeNull();

    await store.close();
    await store.close(); // idempotent
    expect(vi.getTimerCount()).toBe(0);
    clock.advance(10_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.stats().sessions).toBe(1); // no sweep after close
    expect(await store.cleanupExpired()).toBe(1); // the store itself still works
  });

  it('does not keep the process alive', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const store = new MemorySessionStore({ cleanupIntervalMs: 60_000 });
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await store.close();
    const without = new MemorySessionStore();
    expect(spy).toHaveBeenCalledTimes(1); // no timer without cleanupIntervalMs
    await without.close();
  });

  it('keeps sweeping after the clock throws once', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = testClock();
    let fail = false;
    const store = new MemorySessionStore({
      clock: () => {
        if (fail) throw new Error('clock down');
        return clock.now;
      },
      cleanupIntervalMs: 100,
    });
    await store.create(makeRecord(clock.now, { ttl: 50 }));
    clock.advance(100);
    fail = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(store.stats().sessions).toBe(1);
    fail = false;
    await vi.advanceTimersByTimeAsync(100);
    expect(store.stats().sessions).toBe(0);
    await store.close();
  });
});

describe('isolation', () => {
  it('never mixes (tenant, user) pairs whose concatenations collide', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const pairs: [string, string][] = [
      ['a:b', 'c'],
      ['a', 'b:c'],
      ['a:', 'bc'],
      ['ab', 'c'],
      ['a', 'bc'],
      ['a', 'b'],
    ];
    const ids = new Map<string, string>();
    for (const [t, u] of pairs)
      ids.set(`${t}\u0000${u}`, await store.create(makeRecord(clock.now, { tenantId: t, userId: u })));
    for (const [t, u] of pairs) {
      const rows = await store.listByUser(u, tenantId(t));
      expect(rows.map((r) => r.id)).toEqual([ids.get(`${t}\u0000${u}`)]);
    }
    expect(await store.deleteByUser('b:c', tenantId('a'))).toBe(1);
    for (const [t, u] of pairs) {
      expect((await store.listByUser(u, tenantId(t))).length).toBe(t === 'a' && u === 'b:c' ? 0 : 1);
    }
  });
});

describe('per-user eviction order', () => {
  // Past 16 sessions a user's array becomes a heap when eviction asks; at 16 or fewer the
  // order is dropped. 1100: a heap of more than the default bound.
  for (const [max, downTo] of [
    [40, 12],
    [1100, 200],
  ] as const) {
    it(`maxSessionsPerUser ${max}, down to ${downTo} and up again, with extend and delete in between: the soonest-expiring, then earliest created, then smallest id goes`, async () => {
      const clock = testClock();
      const store = new MemorySessionStore({ clock: clock.read, maxSessionsPerUser: max });
      const model = new Map<string, { expiresAt: number; createdAt: number }>();
      const firstToGo = () => {
        let best: [string, { expiresAt: number; createdAt: number }] | undefined;
        for (const [id, x] of model) {
          const y = best?.[1];
          if (
            y === undefined ||
            x.expiresAt - y.expiresAt < 0 ||
            (x.expiresAt === y.expiresAt &&
              (x.createdAt < y.createdAt || (x.createdAt === y.createdAt && id < (best?.[0] as string))))
          )
            best = [id, x];
        }
        return best?.[0] as string;
      };
      let seq = 0;
      const create = async (ttl: number) => {
        const id = `s${String(seq++).padStart(5, '0')}`;
        if (model.size >= max) model.delete(firstToGo());
        await store.create(makeRecord(clock.now, { id, userId: 'u', ttl }));
        model.set(id, { expiresAt: clock.now + ttl, createdAt: clock.now });
      };
      const extend = async (id: string, ms: number) => {
        await store.extend(id, ms);
        model.set(id, { ...(model.get(id) as { expiresAt: number; createdAt: number }), expiresAt: clock.now + ms });
      };
      const matches = async () =>
        expect((await store.listByUser('u', acme)).map((r) => r.id).sort()).toEqual([...model.keys()].sort());
      const every = Math.ceil(max / 40);
      // Ties on expiresAt and on createdAt (every other create in the same ms).
      for (let i = 0; i < max; i++) {
        await create(600_000 + ((i * 7) % 20) * 1000);
        if (i % 2) clock.advance(1);
      }
      await matches();
      await extend('s00003', 1_000); // now the first to go
      await extend('s00010', 5_000_000);
      for (let i = 0; i < 10; i++) {
        await create(500_000 + ((i * 3) % 5) * 1000);
        if (i === 4) await extend('s00020', 2_000);
        await matches();
      }
      // Down to a few sessions, move some, then past the bound again.
      for (const id of [...model.keys()].slice(0, model.size - downTo)) {
        await store.delete(id);
        model.delete(id);
      }
      await matches();
      for (const id of [...model.keys()].slice(0, 4)) await extend(id, 300_000 + id.charCodeAt(5) * 10);
      const more = max - downTo + 30;
      for (let i = 0; i < more; i++) {
        clock.advance(3);
        await create(400_000 + ((i * 11) % 9) * 1000);
        if (i % 9 === 0) await extend([...model.keys()][i % model.size] as string, 350_000);
        if (i % every === 0 || i >= more - 30) await matches();
      }
      expect(store.stats().evictedPerUser).toBe(10 + 30);
    });
  }
});
