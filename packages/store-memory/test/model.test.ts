// Model-based test: random operation sequences run against the store and against a
// simple reference model (an array scanned in full for every question), comparing every
// result and error code, evictions under maxSessions included.
import { type JsonValue, SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';
import { testClock } from './helpers.js';

const USERS = ['u', 'u:x', 'x', 'ü'];
const TENANTS = ['t', 't:u', 'x'];

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
  /** When it last entered its one-second expiry bucket (the eviction tie-break). */
  seq: number;
}

/** The documented behaviour, written the slow and obvious way. */
class Model {
  sessions: ModelSession[] = [];
  seq = 0;
  constructor(readonly maxSessions: number) {}

  find(id: string) {
    return this.sessions.find((s) => s.id === id);
  }
  remove(id: string) {
    this.sessions = this.sessions.filter((s) => s.id !== id);
  }
  create(s: Omit<ModelSession, 'seq'>, now: number): string {
    if (this.find(s.id)) throw 'CONFLICT';
    if (this.sessions.length >= this.maxSessions) {
      this.sessions = this.sessions.filter((x) => x.expiresAt > now);
      while (this.sessions.length >= this.maxSessions) {
        const bucket = (x: ModelSession) => Math.floor(x.expiresAt / 1000);
        const victim = this.sessions.reduce((a, b) =>
          bucket(b) < bucket(a) || (bucket(b) === bucket(a) && b.seq < a.seq) ? b : a,
        );
        this.remove(victim.id);
      }
    }
    this.sessions.push({ ...s, seq: this.seq++ });
    return s.id;
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

async function runSequence(ops: Op[], maxSessions: number): Promise<void> {
  const clock = testClock(1_764_000_000_000 + 123);
  const store = new MemorySessionStore({ clock: clock.read, maxSessions });
  const model = new Model(maxSessions);
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
        const want = await outcome(() =>
          model.create(
            {
              ...rec,
              id: 'ok' in got ? got.ok : id,
              tenantId: tenant,
              createdAt: now - 10,
              expiresAt: now + o.ttl,
              lastActivityAt: now,
            },
            now,
          ),
        );
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
          const live = model.live(id, now);
          live.transactionId = 'tx2';
          live.factorsUsed = ['pw', 'otp'];
          live.assuranceLevel = o.level;
          live.metadata = o.metadata;
          live.lastActivityAt = now;
          model.setExpiry(live, now + o.ttl);
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
    expect(store.stats().sessions).toBe(model.sessions.length);
  }
  // At the end every (tenant, user) list is exact, expired sessions included once cleaned.
  const total = model.sessions.length;
  let listed = 0;
  for (const u of USERS)
    for (const t of TENANTS) listed += model.sessions.filter((s) => s.userId === u && s.tenantId === t).length;
  expect(listed).toBe(total);
  await store.close();
}

describe('MemorySessionStore against a reference model', () => {
  it('matches the model over random operation sequences (unbounded)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80, size: 'max' }), (ops) =>
        runSequence(ops, Number.POSITIVE_INFINITY),
      ),
      { numRuns: 300 },
    );
  });

  it('matches the model, evictions included, with maxSessions 4', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80, size: 'max' }), (ops) => runSequence(ops, 4)),
      { numRuns: 300 },
    );
  });
});
