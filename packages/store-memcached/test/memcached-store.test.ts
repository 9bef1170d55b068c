import net from 'node:net';
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import fc from 'fast-check';
import type memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, type MemjsClientInternals } from '../src/connection.js';
import { MemcachedSessionStore, type MemcachedSessionStoreOptions } from '../src/index.js';
import { expirationField, indexKey, keyPart, MAX_KEY_BYTES, sessionKey } from '../src/keys.js';
import { ServerSocket } from '../src/server-socket.js';
import { makeClient, memcachedServers, type Servers } from './helpers.js';
import { dumpKeys, ttlOf } from './inspect.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let servers: Servers;
let client: memjs.Client;
let single: string;
let n = 0;

beforeAll(async () => {
  servers = await memcachedServers(1);
  single = servers.servers[0] as string;
  client = makeClient(single);
});
afterAll(async () => {
  client?.close();
  await servers?.stop();
});

class Clock {
  t = Date.now();
  now = () => this.t;
}

function open(extra: Partial<MemcachedSessionStoreOptions> = {}) {
  const clock = new Clock();
  const prefix = `m${process.pid}-${n++}:`;
  const store = new MemcachedSessionStore({ client, prefix, clock: clock.now, ...extra });
  return { store, clock, prefix };
}

function record(clock: Clock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = clock.now();
  return {
    id: '',
    userId: 'user-1',
    tenantId: tenantId('tenant-1'),
    transactionId: 'tx',
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { a: 1 },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    expect(SessionError.isInstance(error)).toBe(true);
    return (error as SessionError).code;
  }
}

async function keysWithPrefix(prefix: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await dumpKeys(single)).filter((k) => k.key.startsWith(prefix));
    } catch (error) {
      if (attempt > 20) throw error;
      await new Promise((r) => setTimeout(r, 100)); // the LRU crawler is busy
    }
  }
}

describe('the 30-day trap: expirations memcached reads as absolute times', () => {
  it('converts: relative seconds up to 30 days, absolute Unix time beyond, never 0, capped in 2106', () => {
    const now = 1_800_000_000_000;
    expect(expirationField(now + 1, now, now)).toBe(1);
    expect(expirationField(now - 5000, now, now)).toBe(1); // never 0 ("never expires")
    expect(expirationField(now + 30 * DAY, now, now)).toBe(30 * 24 * 3600);
    expect(expirationField(now + 30 * DAY + 1000, now, now)).toBe(now / 1000 + 30 * 24 * 3600 + 1);
    // the store clock may differ from the real clock: the duration counts, the server's time anchors it
    expect(expirationField(now + 60 * DAY, now, now + 5000)).toBe((now + 5000) / 1000 + 60 * 24 * 3600);
    expect(expirationField(8.64e15, now, now)).toBe(2 ** 32 - 1);
  });

  it('a session that lives 60 days is readable, and its items expire in 60 days + retention', async () => {
    const { store, clock, prefix } = open();
    const input = record(clock, { expiresAt: new Date(clock.now() + 60 * DAY) });
    const id = await store.create(input);
    const got = await store.get(id);
    expect(got?.expiresAt.getTime()).toBe(clock.now() + 60 * DAY);
    expect((await store.listByUser(input.userId, input.tenantId)).map((r) => r.id)).toEqual([id]);
    const expected = (60 * DAY + HOUR) / 1000;
    for (const key of [sessionKey(prefix, id), indexKey(prefix, input.tenantId, input.userId)]) {
      const ttl = await ttlOf(single, key);
      expect(ttl).not.toBeNull();
      expect(ttl as number).toBeGreaterThan(expected - 30);
      expect(ttl as number).toBeLessThanOrEqual(expected + 2);
    }
    // extend to 45 days, and touch, keep it readable too
    await store.extend(id, 45 * DAY);
    await store.touch(id);
    expect((await store.get(id))?.expiresAt.getTime()).toBe(clock.now() + 45 * DAY);
    const ttl = await ttlOf(single, sessionKey(prefix, id));
    expect(ttl as number).toBeGreaterThan((45 * DAY + HOUR) / 1000 - 30);
  });

  it('a session that ends after 2038 (past 2^31 s) is readable and expires when it should', async () => {
    const { store, clock, prefix } = open();
    const expiresAt = Date.UTC(2080, 0, 1);
    const id = await store.create(record(clock, { expiresAt: new Date(expiresAt) }));
    expect((await store.get(id))?.expiresAt.getTime()).toBe(expiresAt);
    const ttl = (await ttlOf(single, sessionKey(prefix, id))) as number;
    expect(Math.abs(ttl - (expiresAt + HOUR - Date.now()) / 1000)).toBeLessThan(60);
  });
});

describe('expiry and retention', () => {
  it('items expire at expiresAt + expiredRetentionMs, measured on the store clock', async () => {
    const { store, clock, prefix } = open({ expiredRetentionMs: 10 * MINUTE });
    clock.t += 3 * HOUR; // the store clock runs ahead of the server: durations still count from it
    const id = await store.create(record(clock, { expiresAt: new Date(clock.now() + 5 * MINUTE) }));
    const ttl = (await ttlOf(single, sessionKey(prefix, id))) as number;
    expect(ttl).toBeGreaterThan(15 * 60 - 30);
    expect(ttl).toBeLessThanOrEqual(15 * 60 + 1);
  });

  it('get: EXPIRED inside the retention window, null once it is over', async () => {
    const { store, clock } = open({ expiredRetentionMs: 10 * MINUTE });
    const id = await store.create(record(clock, { expiresAt: new Date(clock.now() + MINUTE) }));
    clock.t += MINUTE;
    expect(await code(store.get(id))).toBe('EXPIRED');
    clock.t += 10 * MINUTE - 1;
    expect(await code(store.get(id))).toBe('EXPIRED');
    clock.t += 1;
    expect(await store.get(id)).toBeNull();
    expect(await code(store.touch(id))).toBe('NOT_FOUND');
  });

  it('expiredRetentionMs 0: the item lives exactly as long as the session', async () => {
    const { store, clock, prefix } = open({ expiredRetentionMs: 0 });
    const id = await store.create(record(clock, { expiresAt: new Date(clock.now() + 2 * MINUTE) }));
    const ttl = (await ttlOf(single, sessionKey(prefix, id))) as number;
    expect(ttl).toBeLessThanOrEqual(120);
    expect(ttl).toBeGreaterThan(90);
  });

  it('an id whose item outlived its retention (on the store clock) can be created again', async () => {
    const { store, clock } = open({ expiredRetentionMs: MINUTE });
    const id = `reuse-${n}`;
    await store.create(record(clock, { id, expiresAt: new Date(clock.now() + MINUTE) }));
    clock.t += 30 * SECOND;
    expect(await code(store.create(record(clock, { id })))).toBe('CONFLICT');
    clock.t += 2 * MINUTE;
    const again = record(clock, { id, userId: 'someone-else' });
    expect(await store.create(again)).toBe(id);
    expect((await store.get(id))?.userId).toBe('someone-else');
    expect(await store.listByUser('user-1', tenantId('tenant-1'))).toEqual([]);
  });
});

describe('keys', () => {
  const identifier = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 256 })
    .filter(
      (s) =>
        !/[\u0000-\u001f\u007f-\u009f]/.test(s) &&
        !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s),
    );

  it('property: keys are printable ASCII without whitespace, within 250 bytes, and never collide', () => {
    const prefix = 'p'.repeat(100);
    fc.assert(
      fc.property(identifier, identifier, identifier, identifier, (t1, u1, t2, u2) => {
        const a = indexKey(prefix, t1, u1);
        const b = indexKey(prefix, t2, u2);
        for (const key of [a, b, sessionKey(prefix, t1), sessionKey(prefix, u2)]) {
          expect(Buffer.byteLength(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
          expect(key).toMatch(/^[\x21-\x7e]+$/);
        }
        expect(a === b).toBe(t1 === t2 && u1 === u2);
        expect(sessionKey(prefix, t1) === sessionKey(prefix, t2)).toBe(t1 === t2);
      }),
      { numRuns: 500 },
    );
  });

  it('short base64url ids stay readable in keys; anything else is hashed', () => {
    expect(keyPart('abcDEF_-09')).toBe('abcDEF_-09');
    expect(keyPart('a'.repeat(64))).toBe('a'.repeat(64));
    expect(keyPart('a'.repeat(65))).toMatch(/^~[A-Za-z0-9_-]{43}$/);
    expect(keyPart('a b')).toMatch(/^~/);
    expect(keyPart('~x')).toMatch(/^~[A-Za-z0-9_-]{43}$/);
  });

  it('256-character ids, users and tenants of 4-byte characters work end to end', async () => {
    const { store, clock } = open();
    const big = '😀'.repeat(128); // 256 UTF-16 units, 512 UTF-8 bytes
    const input = record(clock, { id: big, userId: big, tenantId: tenantId(big) });
    expect(await store.create(input)).toBe(big);
    expect((await store.get(big))?.userId).toBe(big);
    expect((await store.listByUser(big, tenantId(big))).map((r) => r.id)).toEqual([big]);
    expect(await store.deleteByUser(big, tenantId(big))).toBe(1);
    expect(await store.get(big)).toBeNull();
  });

  it('writes only keys that start with its prefix, and every one of them expires', async () => {
    const { store, clock, prefix } = open();
    const keysBefore = new Set((await keysWithPrefix('')).map((k) => k.key));
    const a = await store.create(record(clock));
    const b = await store.create(record(clock, { id: 'with spaces & more', userId: 'u 2' }));
    await store.extend(a, 2 * HOUR);
    await store.touch(b);
    await store.update({ ...record(clock, { userId: 'u 2' }), id: b, expiresAt: new Date(clock.now() + 3 * HOUR) });
    await store.listByUser('user-1', tenantId('tenant-1'));
    await store.delete(a);
    await store.create(record(clock, { userId: 'u 3' }));
    await store.deleteByUser('u 3', tenantId('tenant-1'));
    const written = (await keysWithPrefix('')).filter((k) => !keysBefore.has(k.key));
    expect(written.length).toBe(3); // b, its index, and the revocation marker of u 3 (its session and index are gone)
    for (const k of written) {
      expect(k.key.startsWith(prefix)).toBe(true);
      expect(k.exp).toBeGreaterThan(0); // -1 would be "never"
    }
  });
});

describe('the user index', () => {
  it('an index expires with its latest session, whatever the order of creates, extends and deletes', async () => {
    const { store, clock, prefix } = open({ expiredRetentionMs: 10 * MINUTE });
    const base = record(clock);
    const ikey = indexKey(prefix, base.tenantId, base.userId);
    const ttl = async () => (await ttlOf(single, ikey)) as number;
    const near = (actual: number, expectedMs: number) => {
      expect(actual).toBeGreaterThan(expectedMs / 1000 - 30);
      expect(actual).toBeLessThanOrEqual(expectedMs / 1000 + 2);
    };
    const long = await store.create({ ...base, expiresAt: new Date(clock.now() + 5 * HOUR) });
    const short = await store.create({ ...base, expiresAt: new Date(clock.now() + HOUR) });
    near(await ttl(), 5 * HOUR + 10 * MINUTE);
    await store.delete(long); // the index shrinks to the remaining session
    near(await ttl(), HOUR + 10 * MINUTE);
    await store.extend(short, 3 * HOUR); // grows with an extend
    near(await ttl(), 3 * HOUR + 10 * MINUTE);
    await store.extend(short, 2 * HOUR); // and shrinks with a shorter one
    near(await ttl(), 2 * HOUR + 10 * MINUTE);
    await store.update({ ...base, id: short, expiresAt: new Date(clock.now() + 4 * HOUR) });
    near(await ttl(), 4 * HOUR + 10 * MINUTE);
    await store.delete(short); // the last session gone: so is the index
    expect(await ttlOf(single, ikey)).toBeNull();
  });

  it('listByUser prunes entries of sessions that are gone and keeps live ones', async () => {
    const { store, clock, prefix } = open({ expiredRetentionMs: MINUTE });
    const base = record(clock);
    const ikey = indexKey(prefix, base.tenantId, base.userId);
    const dead = await store.create({ ...base, expiresAt: new Date(clock.now() + SECOND) });
    const live = await store.create({ ...base, expiresAt: new Date(clock.now() + HOUR) });
    const evicted = await store.create({ ...base, expiresAt: new Date(clock.now() + HOUR) });
    await client.delete(sessionKey(prefix, evicted)); // as if memcached had evicted it
    const indexed = async () => (await client.get(ikey)).value?.toString().split('\n').slice(1) ?? [];
    const t = clock.now();
    // all three are in the index before listByUser prunes it
    expect((await indexed()).sort()).toEqual(
      [`${t + SECOND}\t${t}\t${dead}`, `${t + HOUR}\t${t}\t${live}`, `${t + HOUR}\t${t}\t${evicted}`].sort(),
    );
    clock.t += 2 * MINUTE; // `dead` is past its retention
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id)).toEqual([live]);
    expect(await indexed()).toEqual([`${t + HOUR}\t${t}\t${live}`]);
    // and neither pruned session reads back
    expect(await store.get(dead)).toBeNull();
    expect(await store.get(evicted)).toBeNull();
  });

  it('64 concurrent creates and deletes for one user lose nothing (and the index stays exact)', async () => {
    const { store, clock, prefix } = open();
    const base = record(clock);
    const first = await Promise.all(Array.from({ length: 32 }, (_, i) => store.create({ ...base, metadata: { i } })));
    const ops: Promise<unknown>[] = [];
    const created: Promise<string>[] = [];
    for (let i = 0; i < 32; i++) {
      created.push(store.create({ ...base, metadata: { j: i } }));
      if (i % 2 === 0) ops.push(store.delete(first[i] as string));
      else ops.push(store.touch(first[i] as string));
    }
    const more = await Promise.all(created);
    await Promise.all(ops);
    const expected = [...first.filter((_, i) => i % 2 === 1), ...more].sort();
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual(expected);
    const { value } = await client.get(indexKey(prefix, base.tenantId, base.userId));
    const indexed = (value?.toString() ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.split('\t')[2]);
    expect(indexed.sort()).toEqual(expected);
  });

  it('property: random interleavings of create, delete, extend, deleteByUser match a model', async () => {
    const { store, clock } = open();
    const user = `prop-${n}`;
    const tenant = tenantId('t');
    const action = fc.oneof(
      fc.constant({ kind: 'create' as const }),
      fc.nat(20).map((i) => ({ kind: 'delete' as const, i })),
      fc.nat(20).map((i) => ({ kind: 'extend' as const, i })),
      fc.constant({ kind: 'deleteByUser' as const }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(action, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
        async (batches) => {
          await store.deleteByUser(user, tenant);
          let model = new Set<string>();
          for (const batch of batches) {
            const known = [...model];
            const deleted = new Set<string>();
            let wiped = false;
            const results = await Promise.allSettled(
              batch.map((a) => {
                if (a.kind === 'create') return store.create(record(clock, { userId: user, tenantId: tenant }));
                if (a.kind === 'deleteByUser') {
                  wiped = true;
                  return store.deleteByUser(user, tenant);
                }
                const id = known[a.i % Math.max(1, known.length)];
                if (id === undefined) return Promise.resolve();
                if (a.kind === 'delete') {
                  deleted.add(id);
                  return store.delete(id);
                }
                return store.extend(id, HOUR);
              }),
            );
            const createdIds = results.flatMap((r, i) =>
              batch[i]?.kind === 'create' && r.status === 'fulfilled' ? [r.value as string] : [],
            );
            for (const r of results)
              if (r.status === 'rejected') expect((r.reason as SessionError).code).toBe('NOT_FOUND');
            const listed = new Set((await store.listByUser(user, tenant)).map((r) => r.id));
            // sessions that existed before the batch: gone if deleted (or wiped), else still there
            for (const id of known) expect(listed.has(id)).toBe(!deleted.has(id) && !wiped);
            // new ones: present unless a concurrent deleteByUser took them
            for (const id of createdIds) if (!wiped) expect(listed.has(id)).toBe(true);
            expect(listed.size).toBe([...listed].filter((id) => known.includes(id) || createdIds.includes(id)).length);
            model = listed;
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('concurrent writers of one index in one process are coalesced (requests grow linearly, not quadratically)', async () => {
    const { store, clock } = open();
    const base = record(clock);
    const original = ServerSocket.prototype.write;
    let writes = 0;
    ServerSocket.prototype.write = function (this: ServerSocket, blob: Buffer) {
      writes++;
      return original.call(this, blob);
    };
    let ids: string[];
    try {
      ids = await Promise.all(Array.from({ length: 200 }, (_, i) => store.create({ ...base, metadata: { i } })));
      await Promise.all(ids.slice(0, 100).map((id) => store.delete(id)));
    } finally {
      ServerSocket.prototype.write = original;
    }
    // 200 creates (add + index read each) and 100 deletes (read + delete each), plus a few
    // shared index cycles; one CAS conflict per writer per round would be tens of thousands.
    expect(writes).toBeLessThan(1000);
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual(ids.slice(100).sort());
  });

  it('listByUser reads the records in one batched request per server', async () => {
    const { store, clock } = open();
    const base = record(clock);
    for (let i = 0; i < 20; i++) await store.create(base);
    const original = ServerSocket.prototype.write;
    let writes = 0;
    ServerSocket.prototype.write = function (this: ServerSocket, blob: Buffer) {
      writes++;
      return original.call(this, blob);
    };
    try {
      expect(await store.listByUser(base.userId, base.tenantId)).toHaveLength(20);
    } finally {
      ServerSocket.prototype.write = original;
    }
    expect(writes).toBe(3); // the index and the revocation marker at once, then all 20 records
  });
});

describe('deleteByUser when the index was lost ("log out everywhere")', () => {
  it('sessions the index no longer reaches read as gone: get null, touch/extend/update NOT_FOUND, not listed', async () => {
    const { store, clock, prefix } = open({ maxLifetimeMs: DAY });
    const base = record(clock);
    const ids = [
      await store.create(base),
      await store.create(base),
      await store.create({ ...base, id: 'custom-lost' }),
    ];
    const elsewhere = await store.create({ ...base, tenantId: tenantId('tenant-2') }); // same user, other tenant
    await client.delete(indexKey(prefix, base.tenantId, base.userId)); // evicted, or its server restarted
    clock.t += 2 * SECOND;
    expect(await store.deleteByUser(base.userId, base.tenantId)).toBe(0); // nothing reachable to count
    for (const id of ids) {
      expect(await store.get(id)).toBeNull();
      expect(await code(store.touch(id))).toBe('NOT_FOUND');
      expect(await code(store.extend(id, HOUR))).toBe('NOT_FOUND');
      expect(await code(store.update({ ...base, id }))).toBe('NOT_FOUND');
    }
    expect(await store.listByUser(base.userId, base.tenantId)).toEqual([]);
    // the other tenant's session of the same user id is untouched
    expect((await store.get(elsewhere))?.id).toBe(elsewhere);
    // a session created after the deleteByUser is live, and a revoked caller-chosen id can be reused
    const after = await store.create(record(clock));
    const reused = await store.create({ ...record(clock), id: 'custom-lost' });
    expect((await store.get(after))?.id).toBe(after);
    expect((await store.get(reused))?.id).toBe(reused);
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual(
      [after, reused].sort(),
    );
    // the marker lives as long as a session created before it could (maxLifetimeMs + retention)
    const ttl = await ttlOf(single, `${prefix}r:${keyPart(base.tenantId)}:${keyPart(base.userId)}`);
    expect(ttl).toBeGreaterThan(DAY / SECOND + 3500);
    expect(ttl).toBeLessThanOrEqual(DAY / SECOND + 3600 + 5);
  });

  it('a read fetches the marker of the owner it remembers alongside the record, and still sees a deleteByUser made through another store', async () => {
    const { store, clock, prefix } = open();
    const other = new MemcachedSessionStore({ client, prefix, clock: clock.now }); // another process
    const base = record(clock);
    const id = await store.create(base);
    const reused = await store.create({ ...base, id: 'reused-id' });
    // the most GETs in flight at once while `work` runs
    const original = Connection.prototype.get;
    const inFlight = async (work: () => Promise<unknown>): Promise<number> => {
      let now = 0;
      let most = 0;
      Connection.prototype.get = async function (this: Connection, ...args: Parameters<Connection['get']>) {
        most = Math.max(most, ++now);
        try {
          return await original.apply(this, args);
        } finally {
          now--;
        }
      };
      try {
        await work();
      } finally {
        Connection.prototype.get = original;
      }
      return most;
    };
    try {
      expect(await inFlight(() => store.get(id))).toBe(1); // first read: the record, then its owner's marker
      expect(await inFlight(() => store.get(id))).toBe(2); // owner known: both at once
      expect(await inFlight(() => store.touch(id))).toBe(2);
      expect((await store.get(reused))?.userId).toBe(base.userId);
      // the caller-chosen id now names another user's session: the remembered owner is wrong
      await store.delete(reused);
      const moved = { ...record(clock), id: 'reused-id', userId: 'user-2' };
      await store.create(moved);
      for (const userId of [base.userId, moved.userId]) await client.delete(indexKey(prefix, base.tenantId, userId)); // lost
      clock.t += 2 * SECOND;
      expect(await other.deleteByUser(moved.userId, moved.tenantId)).toBe(0);
      expect(await store.get('reused-id')).toBeNull(); // user-2's marker, not user-1's, was checked
      expect(await code(store.touch('reused-id'))).toBe('NOT_FOUND');
      expect((await store.get(id))?.id).toBe(id); // user-1 was not revoked
      expect(await other.deleteByUser(base.userId, base.tenantId)).toBe(0);
      expect(await store.get(id)).toBeNull(); // remembered owner, marker read at once: revoked
      expect(await code(store.touch(id))).toBe('NOT_FOUND');
    } finally {
      await other.close();
    }
  });

  it('counts only what it removed: a second deleteByUser resolves 0, and sessions it removed stay gone', async () => {
    const { store, clock } = open();
    const base = record(clock);
    const a = await store.create(base);
    const b = await store.create(base);
    clock.t += 2 * SECOND;
    expect(await store.deleteByUser(base.userId, base.tenantId)).toBe(2);
    expect(await store.deleteByUser(base.userId, base.tenantId)).toBe(0);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).toBeNull();
  });
});

describe('maxSessionsPerUser and bounded per-user work', () => {
  /** The number of binary-protocol requests in each write, while `work` runs. */
  async function requestsPerWrite(work: () => Promise<unknown>): Promise<number[]> {
    const original = ServerSocket.prototype.write;
    const sizes: number[] = [];
    ServerSocket.prototype.write = function (this: ServerSocket, blob: Buffer) {
      let n = 0;
      for (let at = 0; at + 24 <= blob.length; at += 24 + blob.readUInt32BE(at + 8)) n++;
      sizes.push(n);
      return original.call(this, blob);
    };
    try {
      await work();
    } finally {
      ServerSocket.prototype.write = original;
    }
    return sizes;
  }

  it('default 1000: the 1001st create removes the soonest-expiring session; listByUser and deleteByUser read at most 500 records per request', async () => {
    const { store, clock } = open();
    const base = record(clock);
    const ids: string[] = [];
    for (let i = 0; i < 1001; i += 50) {
      const batch = Array.from({ length: Math.min(50, 1001 - i) }, (_, j) =>
        store.create({ ...base, expiresAt: new Date(clock.now() + HOUR + (i + j) * SECOND) }),
      );
      ids.push(...(await Promise.all(batch)));
    }
    let listed: SessionRecord[] = [];
    const sizes = await requestsPerWrite(async () => {
      listed = await store.listByUser(base.userId, base.tenantId);
    });
    expect(listed.length).toBe(1000);
    expect(listed.map((r) => r.id)).not.toContain(ids[0]); // the soonest-expiring one went
    expect(await store.get(ids[0] as string)).toBeNull();
    expect(Math.max(...sizes)).toBeLessThanOrEqual(501); // 500 GETKQ + NOOP
    expect(sizes.length).toBeGreaterThanOrEqual(4); // index, marker, then 2 batches of records
    let count = 0;
    const deleting = await requestsPerWrite(async () => {
      count = await store.deleteByUser(base.userId, base.tenantId);
    });
    expect(count).toBe(1000);
    expect(Math.max(...deleting)).toBeLessThanOrEqual(501);
  });
});

describe('options and ownership', () => {
  it('rejects bad options with INVALID naming the option', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{}, 'client'],
      [{ client: {} }, 'client'],
      [{ client: { servers: [] } }, 'client'],
      [{ client, prefix: 'has space' }, 'prefix'],
      [{ client, prefix: 'x'.repeat(101) }, 'prefix'],
      [{ client, prefix: 'ünï' }, 'prefix'],
      [{ client, prefix: 5 }, 'prefix'],
      [{ client, expiredRetentionMs: -1 }, 'expiredRetentionMs'],
      [{ client, expiredRetentionMs: 1.5 }, 'expiredRetentionMs'],
      [{ client, operationTimeoutMs: 0 }, 'operationTimeoutMs'],
      [{ client, maxRecordBytes: 10 }, 'maxRecordBytes'],
      [{ client, clock: 'now' }, 'clock'],
      [{ client, maxSessionsPerUser: 0 }, 'maxSessionsPerUser'],
      [{ client, maxSessionsPerUser: 1_000_001 }, 'maxSessionsPerUser'],
      [{ client, maxSessionsPerUser: 2.5 }, 'maxSessionsPerUser'],
    ];
    for (const [options, field] of bad) {
      let error: unknown;
      try {
        new MemcachedSessionStore(options as unknown as MemcachedSessionStoreOptions);
      } catch (e) {
        error = e;
      }
      expect(SessionError.hasCode(error, 'INVALID'), field).toBe(true);
      expect((error as Error).message).toContain(field);
    }
    expect(() => new MemcachedSessionStore(null as unknown as MemcachedSessionStoreOptions)).toThrow(/options/);
  });

  it('declares cleanup false and cleanupExpired resolves 0', async () => {
    const { store } = open();
    expect(store.capabilities.cleanup).toBe(false);
    expect(await store.cleanupExpired()).toBe(0);
  });

  it('close() leaves the caller-owned client open', async () => {
    const { store, clock } = open();
    const id = await store.create(record(clock));
    await store.close();
    await store.close();
    expect((await client.get('anything')).value).toBeNull();
    expect(await store.get(id)).not.toBeNull();
  });

  it('requests sent in one turn of the event loop leave in one system call', async () => {
    const conn = new Connection(client as unknown as MemjsClientInternals);
    const op = { aborted: false };
    const key = `cork${process.pid}`;
    expect(await conn.add(key, 'v', 60, op)).not.toBeNull(); // connected
    const socket = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    const original = { _write: socket._write, _writev: socket._writev };
    let calls = 0;
    for (const name of ['_write', '_writev'] as const) {
      socket[name] = function (this: unknown, ...args: unknown[]) {
        calls++;
        return original[name].apply(this, args);
      };
    }
    try {
      const reads = Array.from({ length: 20 }, () => conn.get(key, op));
      const values = await Promise.all(reads);
      expect(values.map((item) => item?.value.toString())).toEqual(Array(20).fill('v'));
    } finally {
      Object.assign(socket, original);
      conn.close();
    }
    expect(calls).toBe(1); // not 20
  });

  it('keeps working when its request counter wraps past 2^31', async () => {
    const conn = new Connection(client as unknown as MemjsClientInternals, 2 ** 31 - 3);
    const op = { aborted: false };
    const key = `wrap${process.pid}`;
    expect(await conn.add(key, 'v', 60, op)).not.toBeNull();
    for (let i = 0; i < 5; i++) expect((await conn.get(key, op))?.value.toString()).toBe('v');
    expect(conn.seq).toBeGreaterThan(0);
    expect(conn.seq).toBeLessThan(100);
    conn.close();
  });

  it('a corrupt record reads as STORAGE, never as a half-valid record', async () => {
    const { store, prefix } = open();
    await client.set(sessionKey(prefix, 'corrupt'), '{"v":1,"id":"corrupt"', { expires: 60 });
    expect(await code(store.get('corrupt'))).toBe('STORAGE');
    await store.delete('corrupt'); // and delete removes it
    expect(await store.get('corrupt')).toBeNull();
  });
});
