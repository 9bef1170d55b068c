// Model-based test: random operation sequences run against the store and against a
// simple reference model (an array scanned in full for every question), comparing every
// result and error code, the stats after every step, and at the end every user's listing
// and every session's get: evictions under maxSessions, maxBytes and maxSessionsPerUser
// included.
import { encodeRecord, type JsonValue, SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';
import { testClock } from './helpers.js';

const USERS = ['u', 'u:x', 'x', 'ü'];
const TENANTS = ['t', 't:u', 'x'];
/** The length of a generated id (256 bits, base64url). */
const GENERATED_ID = 'i'.repeat(43);

interface ModelSession {
  id: string;
  userId: string;
  tenantId: string;
  transactionId: string;
  factorsUsed: string[];
  assuranceLevel: number;
  metadata: JsonValue;
  createdAt: number;
  expiresAt: number;
  lastActivityAt: number;
  /** When it last entered its one-second expiry bucket (the store-wide eviction tie-break). */
  seq: number;
}

interface Bounds {
  maxSessions: number;
  maxSessionsPerUser: number;
  maxBytes: number;
  maxRecordBytes: number;
}

const isAscii = (text: string) => /^[\x00-\x7f]*$/.test(text);

/**
 * The README's accounting: 400 bytes a session, its id and transactionId as strings,
 * factorsUsed as an array of strings, and the metadata as one array of values (what it
 * takes on the heap) when that is at most twice its characters plus 2048, else as its
 * JSON text. A string takes 16 bytes plus one a character when it is ASCII, else two,
 * rounded up to 8; the metadata's characters are its JSON text's, counting no escapes
 * and every number as one.
 */
function cost(s: Omit<ModelSession, 'seq'>): number {
  const str = (x: string) => Math.ceil((16 + (isAscii(x) ? 1 : 2) * x.length) / 8) * 8;
  const smallInt = (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 30 && !Object.is(n, -0);
  // One 8-byte slot an item on the tape (objects and arrays take two), plus strings and boxed numbers.
  const values = (v: JsonValue): number => {
    if (typeof v === 'string') return 8 + str(v);
    if (typeof v === 'number') return smallInt(v) || v === -(2 ** 30) ? 8 : 24;
    if (v === null || typeof v === 'boolean') return 8;
    if (Array.isArray(v)) return 16 + v.reduce((sum: number, x) => sum + values(x), 0);
    const entries = Object.entries(v);
    return 16 + entries.reduce((sum, [k, x]) => sum + 8 + str(k) + values(x), 0);
  };
  const chars = (v: JsonValue): number => {
    if (typeof v === 'string') return v.length + 2;
    if (typeof v === 'number') return 1;
    if (v === null || typeof v === 'boolean') return 4;
    if (Array.isArray(v)) return v.length + 1 + v.reduce((sum: number, x) => sum + chars(x), 0);
    const entries = Object.entries(v);
    return 1 + entries.reduce((sum, [k, x]) => sum + k.length + 4 + chars(x), 0);
  };
  const fixed = 400 + str(s.id) + str(s.transactionId) + 48 + s.factorsUsed.reduce((sum, f) => sum + 8 + str(f), 0);
  const kept = values(s.metadata);
  return fixed + (kept <= 2 * chars(s.metadata) + 2048 ? 48 + kept : str(JSON.stringify(s.metadata)));
}

/** 300 bytes a (tenant, user) index plus two a character of its names. */
const userCost = (tenant: string, user: string) => 300 + 2 * (tenant.length + user.length);

/** Core's size rule: the UTF-8 bytes of core's encoding of the record. */
function encodedBytes(s: Omit<ModelSession, 'seq'>): number {
  return Buffer.byteLength(encodeRecord(toRecord({ ...s, id: s.id || GENERATED_ID, seq: 0 })), 'utf8');
}

/** Metadata as JSON keeps it (`-0` becomes `0`). */
const asJson = (value: JsonValue) => JSON.parse(JSON.stringify(value)) as JsonValue;

/** The documented behaviour, written the slow and obvious way. */
class Model {
  sessions: ModelSession[] = [];
  seq = 0;
  evicted = 0;
  evictedPerUser = 0;
  constructor(readonly bounds: Bounds) {}

  find(id: string) {
    return this.sessions.find((s) => s.id === id);
  }
  remove(id: string) {
    this.sessions = this.sessions.filter((s) => s.id !== id);
  }
  of(userId: string, tenant: string) {
    return this.sessions.filter((s) => s.userId === userId && s.tenantId === tenant);
  }
  userKeys() {
    return [...new Set(this.sessions.map((s) => JSON.stringify([s.tenantId, s.userId])))];
  }
  entryBytes() {
    return this.sessions.reduce((sum, s) => sum + cost(s), 0);
  }
  bytes() {
    let users = 0;
    for (const key of this.userKeys()) {
      const [t, u] = JSON.parse(key) as [string, string];
      users += userCost(t, u);
    }
    return this.entryBytes() + users;
  }
  /** Within one user: soonest expiresAt, then earliest createdAt, then smallest id. */
  userSoonest(mine: ModelSession[]) {
    return [...mine].sort(
      (a, b) => a.expiresAt - b.expiresAt || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )[0] as ModelSession;
  }
  /** Store-wide: the earliest one-second expiry bucket, then the first to enter it. */
  storeSoonest() {
    const bucket = (x: ModelSession) => Math.floor(x.expiresAt / 1000);
    return this.sessions.reduce((a, b) =>
      bucket(b) < bucket(a) || (bucket(b) === bucket(a) && b.seq < a.seq) ? b : a,
    );
  }
  checkSize(s: Omit<ModelSession, 'seq'>) {
    if (encodedBytes(s) > this.bounds.maxRecordBytes) throw 'INVALID';
  }
  /** Room for `need` more bytes and one more session, for a create or a growing update. */
  makeRoom(need: number, userId: string, tenant: string, now: number) {
    const { maxSessions, maxBytes } = this.bounds;
    const full = () => this.sessions.length >= maxSessions || this.bytes() + need > maxBytes;
    if (!full()) return;
    this.sessions = this.sessions.filter((x) => x.expiresAt > now);
    while (full() && this.sessions.length > 0) {
      const mine = this.of(userId, tenant);
      const fair =
        mine.length > 0 && mine.reduce((sum, x) => sum + cost(x), 0) * this.userKeys().length >= this.entryBytes();
      this.remove((fair ? this.userSoonest(mine) : this.storeSoonest()).id);
      this.evicted++;
    }
  }
  create(s: Omit<ModelSession, 'seq'>, now: number): string {
    if (this.find(s.id)) throw 'CONFLICT';
    for (let mine = this.of(s.userId, s.tenantId); mine.length >= this.bounds.maxSessionsPerUser; ) {
      this.remove(this.userSoonest(mine).id);
      this.evictedPerUser++;
      mine = this.of(s.userId, s.tenantId);
    }
    this.makeRoom(cost(s) + userCost(s.tenantId, s.userId), s.userId, s.tenantId, now);
    this.sessions.push({ ...s, seq: this.seq++ });
    return s.id;
  }
  update(live: ModelSession, next: Omit<ModelSession, 'seq'>, now: number) {
    const grows = cost(next) - cost(live);
    if (grows > 0 && this.bytes() + grows > this.bounds.maxBytes) {
      // Taken out, room made as for a create, put back (entering its bucket anew).
      this.remove(live.id);
      this.makeRoom(cost(next) + userCost(next.tenantId, next.userId), next.userId, next.tenantId, now);
      this.sessions.push({ ...next, seq: this.seq++ });
      return;
    }
    Object.assign(live, { ...next, expiresAt: live.expiresAt });
    this.setExpiry(live, next.expiresAt);
  }
  live(id: string, now: number) {
    const s = this.find(id);
    if (!s) throw 'NOT_FOUND';
    if (s.expiresAt <= now) throw 'EXPIRED';
    return s;
  }
  setExpiry(s: ModelSession, expiresAt: number) {
    if (Math.floor(expiresAt / 1000) !== Math.floor(s.expiresAt / 1000)) s.seq = this.seq++;
    s.expiresAt = expiresAt;
  }
  list(userId: string, tenant: string, now: number) {
    return this.sessions
      .filter((s) => s.userId === userId && s.tenantId === tenant && s.expiresAt > now)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  stats() {
    return {
      sessions: this.sessions.length,
      users: this.userKeys().length,
      bytes: this.bytes(),
      evicted: this.evicted,
      evictedPerUser: this.evictedPerUser,
    };
  }
}

function toRecord(s: ModelSession): SessionRecord {
  return {
    id: s.id,
    userId: s.userId,
    tenantId: tenantId(s.tenantId),
    transactionId: s.transactionId,
    factorsUsed: [...s.factorsUsed],
    assuranceLevel: s.assuranceLevel,
    metadata: s.metadata,
    createdAt: new Date(s.createdAt),
    expiresAt: new Date(s.expiresAt),
    lastActivityAt: new Date(s.lastActivityAt),
  };
}

const ttl = fc.oneof(fc.integer({ min: 1, max: 4000 }), fc.constantFrom(1, 999, 1000, 1001, 2000));
const ref = fc.nat(12); // picks one of the ids created so far (or a missing one)
const metadata = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>;

const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      user: fc.nat(3),
      tenant: fc.nat(2),
      ttl,
      custom: fc.boolean(),
      metadata,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('get' as const), ref }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      ref,
      ttl,
      metadata,
      level: fc.integer({ min: -5, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), ref }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('deleteByUser' as const), user: fc.nat(3), tenant: fc.nat(2) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), ref, ttl }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('touch' as const), ref }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cleanup' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), user: fc.nat(3), tenant: fc.nat(2) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 250, 999, 1000, 1500, 3000) }),
  },
);

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

/** Runs a call, returning its value or its SessionError code. */
async function outcome<T>(fn: () => Promise<T> | T): Promise<{ ok: T } | { error: string }> {
  try {
    return { ok: await fn() };
  } catch (error) {
    if (typeof error === 'string') return { error };
    if (SessionError.isInstance(error)) return { error: error.code };
    throw error;
  }
}

const UNBOUNDED: Bounds = {
  maxSessions: Number.POSITIVE_INFINITY,
  maxSessionsPerUser: 1000,
  maxBytes: Number.POSITIVE_INFINITY,
  maxRecordBytes: 65_536,
};

async function runSequence(ops: Op[], bounds: Bounds): Promise<number> {
  const clock = testClock(1_764_000_000_000 + 123);
  const store = new MemorySessionStore({ clock: clock.read, ...bounds });
  const model = new Model(bounds);
  const ids: string[] = [];
  let custom = 0;
  const pick = (n: number) => ids[n] ?? `missing-${n}`;
  for (const o of ops) {
    const now = clock.now;
    switch (o.kind) {
      case 'create': {
        const userId = USERS[o.user] as string;
        const tenant = TENANTS[o.tenant] as string;
        // Custom ids sometimes repeat an existing one (CONFLICT).
        const id = o.custom ? (custom % 3 === 2 && ids[0] ? ids[0] : `custom-${custom}`) : '';
        custom++;
        const rec = {
          id,
          userId,
          tenantId: tenantId(tenant),
          transactionId: 'tx',
          factorsUsed: ['pw'],
          assuranceLevel: 1,
          metadata: o.metadata,
          createdAt: new Date(now - 10),
          expiresAt: new Date(now + o.ttl),
          lastActivityAt: new Date(now),
        };
        const got = await outcome(() => store.create(rec));
        const want = await outcome(() => {
          const s = {
            ...rec,
            metadata: asJson(rec.metadata),
            tenantId: tenant,
            createdAt: now - 10,
            expiresAt: now + o.ttl,
            lastActivityAt: now,
          };
          model.checkSize(s);
          return model.create({ ...s, id: 'ok' in got ? got.ok : id }, now);
        });
        expect(got).toEqual(want);
        if ('ok' in got) ids.push(got.ok);
        break;
      }
      case 'get': {
        const id = pick(o.ref);
        const got = await outcome(() => store.get(id));
        const want = await outcome(() => {
          const s = model.find(id);
          if (!s) return null;
          if (s.expiresAt <= now) throw 'EXPIRED';
          return toRecord(s);
        });
        expect(got).toEqual(want);
        break;
      }
      case 'update': {
        const id = pick(o.ref);
        const s = model.find(id);
        const base = s ?? { userId: 'u', tenantId: 't', createdAt: now - 10 };
        const rec: SessionRecord = {
          id,
          userId: base.userId,
          tenantId: tenantId(base.tenantId),
          transactionId: 'tx2',
          factorsUsed: ['pw', 'otp'],
          assuranceLevel: o.level,
          metadata: o.metadata,
          createdAt: new Date(base.createdAt),
          expiresAt: new Date(now + o.ttl),
          lastActivityAt: new Date(now),
        };
        const got = await outcome(() => store.update(rec));
        const want = await outcome(() => {
          const next = {
            ...rec,
            metadata: asJson(rec.metadata),
            tenantId: base.tenantId,
            createdAt: base.createdAt,
            expiresAt: now + o.ttl,
            lastActivityAt: now,
          };
          model.checkSize(next);
          model.update(model.live(id, now), next, now);
        });
        expect(got).toEqual(want);
        break;
      }
      case 'delete': {
        const id = pick(o.ref);
        expect(await outcome(() => store.delete(id))).toEqual({ ok: undefined });
        model.remove(id);
        break;
      }
      case 'deleteByUser': {
        const userId = USERS[o.user] as string;
        const tenant = TENANTS[o.tenant] as string;
        const got = await outcome(() => store.deleteByUser(userId, tenantId(tenant)));
        const mine = model.sessions.filter((s) => s.userId === userId && s.tenantId === tenant);
        model.sessions = model.sessions.filter((s) => !mine.includes(s));
        expect(got).toEqual({ ok: mine.filter((s) => s.expiresAt > now).length });
        break;
      }
      case 'extend': {
        const id = pick(o.ref);
        const got = await outcome(() => store.extend(id, o.ttl));
        const want = await outcome(() => {
          const live = model.live(id, now);
          live.lastActivityAt = now;
          model.setExpiry(live, now + o.ttl);
        });
        expect(got).toEqual(want);
        break;
      }
      case 'touch': {
        const id = pick(o.ref);
        const got = await outcome(() => store.touch(id));
        const want = await outcome(() => {
          model.live(id, now).lastActivityAt = now;
        });
        expect(got).toEqual(want);
        break;
      }
      case 'cleanup': {
        const before = model.sessions.length;
        model.sessions = model.sessions.filter((s) => s.expiresAt > now);
        expect(await outcome(() => store.cleanupExpired())).toEqual({ ok: before - model.sessions.length });
        break;
      }
      case 'list': {
        const userId = USERS[o.user] as string;
        const tenant = TENANTS[o.tenant] as string;
        const got = await outcome(() => store.listByUser(userId, tenantId(tenant)));
        expect(got).toEqual({ ok: model.list(userId, tenant, now).map(toRecord) });
        break;
      }
      case 'advance':
        clock.advance(o.ms);
        break;
    }
    expect(store.stats()).toMatchObject(model.stats());
  }
  // At the end: every (tenant, user) listing and every session's get are the model's.
  const now = clock.now;
  for (const u of USERS) {
    for (const t of TENANTS) {
      expect(await store.listByUser(u, tenantId(t))).toEqual(model.list(u, t, now).map(toRecord));
    }
  }
  for (const s of model.sessions) {
    expect(await outcome(() => store.get(s.id))).toEqual(
      s.expiresAt > now ? { ok: toRecord(s) } : { error: 'EXPIRED' },
    );
  }
  for (const id of ids) if (!model.find(id)) expect(await store.get(id)).toBeNull();
  await store.close();
  return model.evicted + model.evictedPerUser;
}

describe('MemorySessionStore against a reference model', () => {
  const sequences = fc.array(op, { minLength: 10, maxLength: 80, size: 'max' });
  const cases: [string, Bounds][] = [
    ['unbounded', UNBOUNDED],
    ['evictions included, with maxSessions 4', { ...UNBOUNDED, maxSessions: 4 }],
    ['maxSessionsPerUser 2', { ...UNBOUNDED, maxSessionsPerUser: 2 }],
    // The smallest maxBytes for maxRecordBytes 1024: about ten small sessions.
    ['evictions by bytes, with maxBytes 6144', { ...UNBOUNDED, maxBytes: 6144, maxRecordBytes: 1024 }],
  ];
  for (const [name, bounds] of cases) {
    it(`matches the model over random operation sequences (${name})`, async () => {
      let evictions = 0;
      await fc.assert(
        fc.asyncProperty(sequences, async (ops) => {
          evictions += await runSequence(ops, bounds);
        }),
        { numRuns: 200 },
      );
      // The bounded cases really exercised their bound.
      if (bounds !== UNBOUNDED) expect(evictions).toBeGreaterThan(20);
    });
  }
});
