// The store's bounds: memory by bytes (maxBytes), sessions (maxSessions) and sessions
// per user (maxSessionsPerUser), and who gets evicted when one is reached.
import v8 from 'node:v8';
import vm from 'node:vm';
import { DEFAULT_MAX_SESSIONS_PER_USER, encodeRecord, type JsonValue, SessionError } from '@sessionkit/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BYTES, MemorySessionStore } from '../src/index.js';
import { acme, makeRecord, rejectsWith, testClock } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

let keySeq = 0;
/** Metadata of about `bytes` encoded bytes in shapes that cost far more as objects than as text. */
const SHAPES: Record<string, (bytes: number) => JsonValue> = {
  'empty objects [{},{},…]': (bytes) => Array.from({ length: Math.floor(bytes / 3) }, () => ({})),
  'empty arrays [[],[],…]': (bytes) => Array.from({ length: Math.floor(bytes / 3) }, () => []),
  'one-digit numbers': (bytes) => Array.from({ length: Math.floor(bytes / 2) }, (_, i) => i % 10),
  'two-letter strings': (bytes) => Array.from({ length: Math.floor(bytes / 5) }, (_, i) => `a${i % 10}`),
  'small objects {"k":1}': (bytes) => Array.from({ length: Math.floor(bytes / 8) }, (_, i) => ({ k: i % 10 })),
  'ASCII text with one emoji (stored two bytes a character)': (bytes) => ({ s: `${'y'.repeat(bytes - 16)}😀` }),
  'a typical 1 KB object': () => ({ ip: '203.0.113.7', ua: 'Mozilla/5.0 '.repeat(70), roles: ['a', 'b'], n: 3 }),
  'a nested 1 KB object (kept as values)': () => ({
    ip: '203.0.113.42',
    locale: 'en-GB',
    roles: ['admin', 'billing', 'support', 'developer'],
    preferences: { theme: 'dark', notifications: { email: true, sms: false } },
    cart: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: i + 1, price: 9.99 + i })),
    note: 'x'.repeat(400),
  }),
  'distinct keys in every session': (bytes) =>
    Object.fromEntries(Array.from({ length: Math.floor(bytes / 12) }, () => [`${(keySeq++).toString(36)}k`, 1])),
};
/** Shapes of about 1 KB: kept as values, accounted at most 2048 bytes above twice their text. */
const SMALL = new Set(['a typical 1 KB object', 'a nested 1 KB object (kept as values)']);

describe('maxBytes: memory follows the encoded size whatever the shape of the metadata', () => {
  for (const [name, make] of Object.entries(SHAPES)) {
    it(`${name}: the heap stays within the accounting, and that within 2x the encoded size`, async () => {
      const clock = testClock();
      const big = !SMALL.has(name);
      const count = big ? 150 : 3000;
      const store = new MemorySessionStore({
        clock: clock.read,
        maxBytes: Number.POSITIVE_INFINITY,
        maxSessions: Number.POSITIVE_INFINITY,
      });
      const record = (i: number) => makeRecord(clock.now, { userId: `user-${i}`, metadata: make(60_000) });
      const encoded = Buffer.byteLength(encodeRecord({ ...record(0), id: 'i'.repeat(43) }), 'utf8');
      const before = heapUsed();
      // Records are built one at a time, so the heap grows by what the store keeps.
      for (let i = 0; i < count; i++) await store.create(record(i));
      const perSession = (heapUsed() - before) / count;
      const accounted = store.stats().bytes / count;
      expect(store.stats().sessions).toBe(count);
      // The accounting is an upper bound of the heap really used (10% for GC noise)...
      expect(perSession).toBeLessThan(1.1 * accounted);
      // ...and at most two bytes a character plus a fixed overhead per session and user.
      expect(accounted).toBeLessThanOrEqual(2 * encoded + (big ? 1024 : 1024 + 2048));
      if (big) expect(perSession).toBeLessThan(2.1 * encoded);
      // Reads hand out the record as it was stored.
      const [first] = await store.listByUser('user-0', acme);
      if (name !== 'distinct keys in every session') {
        expect(first?.metadata).toEqual(JSON.parse(JSON.stringify(make(60_000))));
      } else expect(Object.keys(first?.metadata as object).length).toBe(5000);
    });
  }

  it('a store at maxBytes holds what it accounts, and the heap it takes stays near maxBytes', async () => {
    const clock = testClock();
    const maxBytes = 4 * 1024 * 1024;
    const store = new MemorySessionStore({ clock: clock.read, maxBytes });
    const before = heapUsed();
    for (let i = 0; i < 400; i++) {
      await store.create(
        makeRecord(clock.now, { userId: `user-${i}`, metadata: SHAPES['empty objects [{},{},…]']?.(60_000) }),
      );
    }
    const grown = heapUsed() - before;
    const stats = store.stats();
    expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
    expect(stats.sessions).toBeGreaterThan(50); // ~64 KB each: about 65 fit
    expect(stats.sessions).toBeLessThan(70);
    expect(stats.evicted).toBe(400 - stats.sessions);
    expect(grown).toBeLessThan(1.2 * maxBytes);
  });

  it('defaults to 64 MiB and rejects a maxBytes below twice maxRecordBytes plus 4 KiB', () => {
    expect(DEFAULT_MAX_BYTES).toBe(64 * 1024 * 1024);
    const bad: unknown[] = [0, -1, 1.5, '1', Number.NaN, 2 * 65_536 + 4095];
    for (const maxBytes of bad) {
      let caught: unknown;
      try {
        new MemorySessionStore({ maxBytes } as never);
      } catch (error) {
        caught = error;
      }
      expect(SessionError.hasCode(caught, 'INVALID'), `maxBytes ${String(maxBytes)}`).toBe(true);
      expect((caught as SessionError).field).toBe('maxBytes');
    }
    new MemorySessionStore({ maxBytes: 2 * 65_536 + 4096 });
    new MemorySessionStore({ maxBytes: 2 * 1024 + 4096, maxRecordBytes: 1024 });
    new MemorySessionStore({ maxBytes: Number.POSITIVE_INFINITY });
  });

  it('an update that makes a record larger makes room by eviction, never evicting the session updated', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxBytes: 2 * 65_536 + 4096 });
    // The session updated expires first, so a store-wide eviction would pick it.
    const id = await store.create(makeRecord(clock.now, { userId: 'a', ttl: 1000, metadata: {} }));
    const others: string[] = [];
    for (let i = 0; i < 3; i++) {
      others.push(await store.create(makeRecord(clock.now, { userId: `b${i}`, metadata: 'x'.repeat(30_000) })));
    }
    expect(store.stats().evicted).toBe(0);
    const current = await store.get(id);
    await store.update({ ...(current as NonNullable<typeof current>), metadata: 'z'.repeat(60_000) });
    expect((await store.get(id))?.metadata).toBe('z'.repeat(60_000));
    expect(store.stats().bytes).toBeLessThanOrEqual(2 * 65_536 + 4096);
    expect(store.stats().evicted).toBeGreaterThan(0);
    let left = 0;
    for (const other of others) if ((await store.get(other)) !== null) left++;
    expect(left).toBe(3 - store.stats().evicted);
  });
});

describe('one user filling the store does not evict the other users', () => {
  it('maxSessions 1000: a user creating 3000 sessions evicts only their own', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: 1000 });
    // Ten users whose sessions expire first: a store-wide "soonest first" would take them.
    const victims: string[] = [];
    for (let i = 0; i < 10; i++)
      victims.push(await store.create(makeRecord(clock.now, { userId: `v${i}`, ttl: 60_000 })));
    for (let i = 0; i < 3000; i++) await store.create(makeRecord(clock.now, { userId: 'flood', ttl: 3_600_000 + i }));
    for (const id of victims) expect(await store.get(id)).not.toBeNull();
    const flood = await store.listByUser('flood', acme);
    expect(flood.length).toBe(990);
    // They keep their newest sessions: the ones that expire last.
    expect(flood.map((r) => r.expiresAt.getTime() - clock.now).sort((a, b) => a - b)[0]).toBe(3_600_000 + 2010);
    expect(store.stats()).toMatchObject({ sessions: 1000, users: 11 });
  });

  it('maxBytes: a user creating large sessions evicts only their own once at the average per user', async () => {
    const clock = testClock();
    const maxBytes = 2 * 1024 * 1024;
    const store = new MemorySessionStore({ clock: clock.read, maxBytes });
    const victims: string[] = [];
    for (let i = 0; i < 20; i++) {
      victims.push(
        await store.create(makeRecord(clock.now, { userId: `v${i}`, ttl: 60_000, metadata: 'v'.repeat(20_000) })),
      );
    }
    for (let i = 0; i < 500; i++) {
      await store.create(makeRecord(clock.now, { userId: 'flood', ttl: 3_600_000, metadata: 'f'.repeat(60_000) }));
    }
    for (const id of victims) expect(await store.get(id)).not.toBeNull();
    expect(store.stats().bytes).toBeLessThanOrEqual(maxBytes);
    expect((await store.listByUser('flood', acme)).length).toBeGreaterThan(20);
  });

  it('a new user still gets room: the store-wide soonest-expiring session goes', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessions: 3 });
    const soon = await store.create(makeRecord(clock.now, { userId: 'a', ttl: 5_000 }));
    await store.create(makeRecord(clock.now, { userId: 'b', ttl: 9_000 }));
    await store.create(makeRecord(clock.now, { userId: 'c', ttl: 9_000 }));
    await store.create(makeRecord(clock.now, { userId: 'd', ttl: 9_000 }));
    expect(await store.get(soon)).toBeNull();
    expect(store.stats()).toMatchObject({ sessions: 3, evicted: 1 });
  });
});

describe('maxSessionsPerUser', () => {
  it('defaults to 1000 and rejects values outside 1..1 000 000 naming maxSessionsPerUser', () => {
    expect(DEFAULT_MAX_SESSIONS_PER_USER).toBe(1000);
    for (const maxSessionsPerUser of [0, -1, 2.5, '3', Number.NaN, Number.POSITIVE_INFINITY, 1_000_001]) {
      let caught: unknown;
      try {
        new MemorySessionStore({ maxSessionsPerUser } as never);
      } catch (error) {
        caught = error;
      }
      expect(SessionError.hasCode(caught, 'INVALID'), `maxSessionsPerUser ${String(maxSessionsPerUser)}`).toBe(true);
      expect((caught as SessionError).field).toBe('maxSessionsPerUser');
    }
    new MemorySessionStore({ maxSessionsPerUser: 1_000_000 });
  });

  it('the default holds 1000 sessions for a user and removes the soonest-expiring one for the 1001st', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(await store.create(makeRecord(clock.now, { ttl: 100_000 - i })));
    expect(store.stats().evictedPerUser).toBe(0);
    const newest = await store.create(makeRecord(clock.now, { ttl: 1 }));
    expect(await store.get(ids[999] as string)).toBeNull(); // expired soonest of the 1000
    expect(await store.get(newest)).not.toBeNull(); // the new one is never removed, even expiring first
    expect((await store.listByUser('user-1', acme)).length).toBe(1000);
    expect(store.stats().evictedPerUser).toBe(1);
  });

  it('removes expired ones first, then by expiresAt, createdAt and id; other users and tenants untouched', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessionsPerUser: 3 });
    const other = await store.create(makeRecord(clock.now, { userId: 'u', tenantId: 'other', ttl: 10 }));
    const dead = await store.create(makeRecord(clock.now, { id: 'dead', userId: 'u', ttl: 10 }));
    await store.create(makeRecord(clock.now, { id: 'b', userId: 'u', ttl: 5_000 }));
    await store.create(makeRecord(clock.now - 5, { id: 'c', userId: 'u', ttl: 5_005 })); // same expiresAt, created earlier
    clock.advance(100);
    await store.create(makeRecord(clock.now, { id: 'd', userId: 'u', ttl: 9_000 }));
    expect(await store.get(dead)).toBeNull(); // the expired one went first
    await store.create(makeRecord(clock.now, { id: 'e', userId: 'u', ttl: 9_000 }));
    expect(await store.get('c')).toBeNull(); // tie on expiresAt: the earlier createdAt
    await store.create(makeRecord(clock.now, { id: 'a', userId: 'u', ttl: 8_900 })); // b expires at +5000
    expect((await store.listByUser('u', acme)).map((r) => r.id).sort()).toEqual(['a', 'd', 'e']);
    await store.create(makeRecord(clock.now, { id: 'f', userId: 'u', ttl: 9_000 }));
    // d, e and f share expiresAt and createdAt: the smallest id goes, after a (expiring first).
    expect((await store.listByUser('u', acme)).map((r) => r.id).sort()).toEqual(['d', 'e', 'f']);
    await store.create(makeRecord(clock.now, { id: 'g', userId: 'u', ttl: 9_000 }));
    expect((await store.listByUser('u', acme)).map((r) => r.id).sort()).toEqual(['e', 'f', 'g']);
    await rejectsWith(store.get(other), 'EXPIRED'); // another tenant's same user id: not touched
    expect(store.stats().evictedPerUser).toBe(5);
    expect(await store.deleteByUser('u', acme)).toBe(3);
  });

  it("maxSessionsPerUser 1: each create replaces the user's session", async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessionsPerUser: 1 });
    const first = await store.create(makeRecord(clock.now));
    const second = await store.create(makeRecord(clock.now));
    expect(await store.get(first)).toBeNull();
    expect((await store.listByUser('user-1', acme)).map((r) => r.id)).toEqual([second]);
    expect(store.stats()).toMatchObject({ sessions: 1, users: 1, evictedPerUser: 1 });
  });

  it('with the bound raised, listByUser and deleteByUser page through a large user, letting other work run', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxSessionsPerUser: 5000 });
    const n = 2500;
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) ids.add(await store.create(makeRecord(clock.now - 1, { ttl: 60_000 + i })));
    const other = await store.create(makeRecord(clock.now, { userId: 'other' }));

    // Between pages, other work runs: a session deleted then is left out of the listing.
    const order = [...ids].sort(); // every createdAt is the same: ordered by id
    const last = order.at(-1) as string;
    const listing = store.listByUser('user-1', acme);
    await new Promise((resolve) => setImmediate(resolve)); // the first page is done
    await store.delete(last);
    expect((await listing).map((r) => r.id)).toEqual(order.slice(0, -1));

    const deleting = store.deleteByUser('user-1', acme);
    await new Promise((resolve) => setImmediate(resolve));
    const midway = store.stats().sessions; // a page removed, the rest still there
    expect(await deleting).toBe(n - 1);
    expect(midway).toBeGreaterThan(1);
    expect(midway).toBeLessThan(n);
    expect(store.stats()).toMatchObject({ sessions: 1, users: 1 });
    expect(await store.get(other)).not.toBeNull();
  });
});
