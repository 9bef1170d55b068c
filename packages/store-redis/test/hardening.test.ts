// Ownership of index entries after an id is reused, per-user paging and
// maxSessionsPerUser, generated ids that say nothing about their owner, lazy Cluster
// masters in cleanupExpired, and errors that are always SessionErrors. Real servers.
import { SessionError, type TenantId, tenantId } from '@sessionkit/core';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import { replyShape } from '../src/runner.js';
import { LIST } from '../src/scripts/index.js';
import { userTag } from '../src/user-tags.js';
import { Clock, HOUR, record } from './records.js';
import {
  CLIENT_OPTIONS,
  type ClusterTarget,
  clusterRedis,
  dropKeys,
  type SingleTarget,
  singleRedis,
} from './servers.js';

let single: SingleTarget;
let cluster: ClusterTarget;
let n = 0;

beforeAll(async () => {
  [single, cluster] = await Promise.all([singleRedis(), clusterRedis()]);
});
afterAll(async () => {
  await Promise.all([single?.stop(), cluster?.stop()]);
});

async function secretOf(client: Redis | Cluster, prefix: string): Promise<Buffer> {
  return Buffer.from((await client.get(new KeyLayout(prefix).secret())) as string);
}

/**
 * Two owners in different tenants. On Cluster a caller-chosen id's record key is
 * `c:{tag(owner)}<id>`, so for the two to meet at one key they must share a tag: found by
 * a birthday search over the store's secret.
 */
async function twoOwners(
  client: Redis | Cluster,
  prefix: string,
): Promise<[{ userId: string; tenantId: TenantId }, { userId: string; tenantId: TenantId }]> {
  if (!client.isCluster) {
    return [
      { userId: 'alice', tenantId: tenantId('acme') },
      { userId: 'bob', tenantId: tenantId('globex') },
    ];
  }
  const secret = await secretOf(client, prefix);
  const seen = new Map<string, string>();
  for (let i = 0; i < 20_000; i++) seen.set(userTag(secret, 'acme', `alice-${i}`), `alice-${i}`);
  for (let j = 0; ; j++) {
    const alice = seen.get(userTag(secret, 'globex', `bob-${j}`));
    if (alice)
      return [
        { userId: alice, tenantId: tenantId('acme') },
        { userId: `bob-${j}`, tenantId: tenantId('globex') },
      ];
  }
}

for (const mode of ['single', 'cluster'] as const) {
  const client = () => (mode === 'single' ? single.client : cluster.client);

  describe(`ownership after a caller-chosen id is reused (${mode})`, () => {
    /**
     * Alice holds `device-42` (expiring first) and a live session; Redis drops the record
     * of device-42 (its key expired) while her index keeps the entry; Bob, in another
     * tenant, creates `device-42`. Returns what each test needs.
     */
    async function staleEntry(extra: Record<string, unknown> = {}) {
      const clock = new Clock();
      const prefix = `own${n++}:`;
      const store = new RedisSessionStore({ client: client(), prefix, clock: clock.now, ...extra });
      await store.listByUser('warm-up', tenantId('t')); // makes the tag secret
      const [alice, bob] = await twoOwners(client(), prefix);
      const layout = new KeyLayout(prefix);
      await store.create(record(clock, { ...alice, id: 'device-42', expiresAt: new Date(clock.t + 1000) }));
      const aliceLive = await store.create(record(clock, { ...alice, expiresAt: new Date(clock.t + 2 * HOUR) }));
      const aliceTag = userTag(await secretOf(client(), prefix), alice.tenantId, alice.userId);
      const aliceIndex = layout.index(aliceTag, alice.tenantId, alice.userId);
      const members = (await (client() as Redis).zrange(aliceIndex, '0', '-1')) as string[];
      const stale = members.find((m) => m.endsWith('device-42')) as string;
      // Redis expires the record (and, on Cluster, the id's pointer): the index keeps the entry.
      await client().del(stale);
      if (mode === 'cluster') await client().del(layout.pointer('device-42'));
      const bobExpiresAt = clock.t + HOUR;
      await store.create(record(clock, { ...bob, id: 'device-42', metadata: { bobs: 'secret' } }));
      const bobsKey = mode === 'single' ? layout.record('device-42') : stale;
      expect(await client().exists(bobsKey), "Bob's record sits at the key Alice's index still names").toBe(1);
      const bobExpiry = Number(await client().pexpiretime(bobsKey));
      const bobIntact = async (why: string) => {
        const got = await store.get('device-42');
        expect(got?.userId, `${why}: Bob's session is untouched`).toBe(bob.userId);
        expect(got?.metadata).toEqual({ bobs: 'secret' });
        expect(Number(await client().pexpiretime(bobsKey)), `${why}: Bob's key keeps its expiry`).toBe(bobExpiry);
        expect(
          await client().zscore(aliceIndex, stale),
          `${why}: Alice's entry was never re-scored with Bob's expiresAt`,
        ).not.toBe(String(bobExpiresAt));
      };
      return { clock, prefix, store, alice, bob, aliceLive, aliceIndex, stale, bobIntact };
    }

    it("listByUser never returns another tenant's record and drops the stale entry", async () => {
      const { prefix, store, alice, aliceLive, aliceIndex, stale, bobIntact } = await staleEntry();
      const listed = await store.listByUser(alice.userId, alice.tenantId);
      expect(listed.map((s) => s.id)).toEqual([aliceLive]);
      expect(listed.every((s) => s.userId === alice.userId && s.tenantId === alice.tenantId)).toBe(true);
      await bobIntact('listByUser');
      expect(await client().zscore(aliceIndex, stale), 'the stale entry is gone').toBeNull();
      await dropKeys(client(), prefix);
    });

    it("deleteByUser deletes and counts only the user's own sessions", async () => {
      const { prefix, store, alice, aliceLive, bobIntact } = await staleEntry();
      expect(await store.deleteByUser(alice.userId, alice.tenantId)).toBe(1);
      expect(await store.get(aliceLive)).toBeNull();
      await bobIntact('deleteByUser');
      await dropKeys(client(), prefix);
    });

    it('cleanupExpired never re-scores or deletes through a stale entry', async () => {
      const { clock, prefix, store, alice, aliceLive, aliceIndex, stale, bobIntact } = await staleEntry();
      clock.t += 2000; // Alice's device-42 entry is now expired
      expect(await store.cleanupExpired()).toBe(0);
      await bobIntact('cleanupExpired');
      expect(await client().zscore(aliceIndex, stale), 'the stale entry is dropped, not re-scored').toBeNull();
      expect((await store.listByUser(alice.userId, alice.tenantId)).map((s) => s.id)).toEqual([aliceLive]);
      await dropKeys(client(), prefix);
    });

    it("create's pruning of entries past the retention window never deletes another user's record", async () => {
      const { clock, prefix, store, alice, bobIntact } = await staleEntry({ expiredRetentionMs: 1000 });
      clock.t += 5000; // the stale entry is past expiresAt + retention: create prunes it
      await store.create(record(clock, { ...alice }));
      await bobIntact('create (prune)');
      await dropKeys(client(), prefix);
    });

    it("create's maxSessionsPerUser eviction never deletes another user's record", async () => {
      const { prefix, store, clock, alice, aliceLive, bobIntact } = await staleEntry({ maxSessionsPerUser: 2 });
      const added = await store.create(record(clock, { ...alice }));
      await bobIntact('create (evict)');
      // The stale entry was not a session of Alice's: dropping it made room, so both stay.
      expect((await store.listByUser(alice.userId, alice.tenantId)).map((s) => s.id).sort()).toEqual(
        [aliceLive, added].sort(),
      );
      await dropKeys(client(), prefix);
    });
  });

  describe(`per-user paging and maxSessionsPerUser (${mode})`, () => {
    it('a user with 5,000 sessions: listByUser and deleteByUser are exact, and no script call handles more than a page', async () => {
      const clock = new Clock();
      const prefix = `page${n++}:`;
      // Every script reply the store gets, through a client that forwards to the real one.
      const replies: { script: string; reply: unknown }[] = [];
      const real = client();
      const spy = new Proxy(real, {
        get(target, key) {
          if (key === 'evalsha' || key === 'eval') {
            return async (...args: unknown[]) => {
              const reply = await (target[key] as (...a: unknown[]) => Promise<unknown>)(...args);
              replies.push({ script: String(args[0]).slice(0, 12), reply });
              return reply;
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const store = new RedisSessionStore({ client: spy, prefix, clock: clock.now, maxSessionsPerUser: 10_000 });
      const ids = new Set<string>();
      for (let i = 0; i < 5000; i += 250) {
        const batch = await Promise.all(
          Array.from({ length: 250 }, (_, k) =>
            store.create(record(clock, { expiresAt: new Date(clock.t + HOUR + ((i + k) % 97) * 1000) })),
          ),
        );
        for (const id of batch) ids.add(id);
      }
      replies.length = 0;
      const listed = await store.listByUser('alice', tenantId('acme'));
      expect(listed).toHaveLength(5000);
      expect(new Set(listed.map((s) => s.id))).toEqual(ids);
      const listPages = replies.map((r) => (r.reply as unknown[]).length - 2);
      expect(listPages.length, 'listByUser took several script calls').toBeGreaterThanOrEqual(10);
      expect(Math.max(...listPages), 'each returned at most a page').toBeLessThanOrEqual(500);

      replies.length = 0;
      expect(await store.deleteByUser('alice', tenantId('acme'))).toBe(5000);
      const deletePages = replies.map((r) => (r.reply as number[])[0] as number);
      expect(deletePages.length, 'deleteByUser took several script calls').toBeGreaterThanOrEqual(10);
      expect(Math.max(...deletePages), 'each removed at most a page').toBeLessThanOrEqual(500);
      expect(await store.listByUser('alice', tenantId('acme'))).toEqual([]);
      for (const id of [...ids].slice(0, 20)) expect(await store.get(id)).toBeNull();
      await dropKeys(real, prefix);
    });

    it('a create past maxSessionsPerUser removes the soonest-expiring sessions (ties: createdAt, then id) in the same step', async () => {
      const clock = new Clock();
      const prefix = `max${n++}:`;
      const store = new RedisSessionStore({ client: client(), prefix, clock: clock.now, maxSessionsPerUser: 3 });
      const t = clock.t;
      const at = (ms: number) => new Date(t + ms);
      // Expired but still recorded (inside the retention window): it goes first.
      await store.create(record(clock, { id: 'expired', expiresAt: at(1000) }));
      await store.create(record(clock, { id: 'b-late', expiresAt: at(3 * HOUR) }));
      await store.create(record(clock, { id: 'z-tie', createdAt: at(0), expiresAt: at(2 * HOUR) }));
      clock.t = t + 2000;
      // 3 sessions: the next create removes one, the expired one.
      await store.create(record(clock, { id: 'a-tie', createdAt: at(0), expiresAt: at(2 * HOUR) }));
      expect(await store.get('expired')).toBeNull();
      const ids = async () => (await store.listByUser('alice', tenantId('acme'))).map((s) => s.id).sort();
      expect(await ids()).toEqual(['a-tie', 'b-late', 'z-tie']);
      // Same expiresAt and createdAt: the smaller id goes. The new one stays though it expires first.
      await store.create(record(clock, { id: 'new-soonest', expiresAt: at(HOUR) }));
      expect(await ids()).toEqual(['b-late', 'new-soonest', 'z-tie']);
      // Same expiresAt, earlier createdAt goes first.
      await store.create(record(clock, { id: 'c-early', createdAt: at(-5000), expiresAt: at(2 * HOUR) }));
      expect(await ids(), 'the soonest-expiring one (new-soonest) went').toEqual(['b-late', 'c-early', 'z-tie']);
      await store.create(record(clock, { id: 'd', expiresAt: at(4 * HOUR) }));
      expect(await ids(), 'c-early was created before z-tie').toEqual(['b-late', 'd', 'z-tie']);
      // Other users are never touched.
      await store.create(record(clock, { userId: 'bob', id: 'bobs' }));
      expect(await ids()).toEqual(['b-late', 'd', 'z-tie']);
      expect((await store.get('bobs'))?.userId).toBe('bob');
      // A CONFLICT removes nothing.
      await expect(store.create(record(clock, { id: 'd' }))).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await ids()).toEqual(['b-late', 'd', 'z-tie']);
      await dropKeys(client(), prefix);
    });
  });
}

describe('generated ids', () => {
  it('on Cluster say nothing about their owner without the secret: the tag is keyed, and stores on different prefixes differ', async () => {
    const clock = new Clock();
    const [pa, pb] = [`ida${n++}:`, `idb${n++}:`];
    const a = new RedisSessionStore({ client: cluster.client, prefix: pa, clock: clock.now });
    const b = new RedisSessionStore({ client: cluster.client, prefix: pb, clock: clock.now });
    const idA = await a.create(record(clock));
    const idB = await b.create(record(clock));
    expect(idA).toHaveLength(47);
    // The unkeyed tag of (acme, alice) an attacker can compute from a list of candidates:
    const { createHash } = await import('node:crypto');
    const unkeyed = createHash('sha256').update('u4:acmealice').digest('base64url').slice(0, 4);
    expect(idA.slice(0, 4)).not.toBe(unkeyed);
    expect(idA.slice(0, 4), 'two secrets, two tags for one owner').not.toBe(idB.slice(0, 4));
    // Every store on one prefix shares the secret (kept in Redis): the tag is stable.
    const again = new RedisSessionStore({ client: cluster.client, prefix: pa, clock: clock.now });
    expect((await again.create(record(clock))).slice(0, 4)).toBe(idA.slice(0, 4));
    expect((await again.listByUser('alice', tenantId('acme'))).map((s) => s.id)).toContain(idA);
    await dropKeys(cluster.client, pa);
    await dropKeys(cluster.client, pb);
  });

  it('on a single Redis carry no tag: ids of one user share no prefix', async () => {
    const clock = new Clock();
    const prefix = `idc${n++}:`;
    const store = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
    const ids = await Promise.all(Array.from({ length: 20 }, () => store.create(record(clock))));
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(ids.map((id) => id.slice(0, 4))).size, 'no common 4-character tag').toBeGreaterThan(15);
    expect((await store.listByUser('alice', tenantId('acme'))).map((s) => s.id).sort()).toEqual([...ids].sort());
    for (const id of ids) await store.touch(id);
    expect(await store.deleteByUser('alice', tenantId('acme'))).toBe(20);
    await dropKeys(single.client, prefix);
  });
});

/**
 * Calls `operation` as if a minute had passed since the store last read its tag secret:
 * `Date.now()` runs a minute ahead while the operation starts (synchronously), so the
 * store reads the secret again in the background; its own round trip runs on real time.
 */
function aMinuteLater<T>(operation: () => Promise<T>): Promise<T> {
  const now = Date.now;
  const spy = vi.spyOn(Date, 'now').mockImplementation(() => now() + 61_000);
  try {
    return operation();
  } finally {
    spy.mockRestore();
  }
}

describe('the tag secret', () => {
  it('a lost secret key is written back with the same secret, so a new store agrees with the old one', async () => {
    const clock = new Clock();
    const prefix = `lost${n++}:`;
    const old = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
    const id = await old.create(record(clock));
    const secret = await single.client.get(new KeyLayout(prefix).secret());
    await single.client.del(new KeyLayout(prefix).secret()); // e.g. a restart without persistence
    // A minute later the store reads the secret again (in the background) and writes its own back.
    await aMinuteLater(() => old.listByUser('alice', tenantId('acme')));
    for (let i = 0; i < 100 && (await single.client.exists(new KeyLayout(prefix).secret())) === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await single.client.get(new KeyLayout(prefix).secret())).toBe(secret);
    expect(Number(await single.client.pexpiretime(new KeyLayout(prefix).secret()))).toBeGreaterThan(clock.t + HOUR);
    const fresh = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
    expect((await fresh.listByUser('alice', tenantId('acme'))).map((s) => s.id)).toEqual([id]);
    await dropKeys(single.client, prefix);
  });
});

describe('cleanupExpired on Cluster masters the client has not connected yet', () => {
  it('connects them (lazyConnect, status wait) within the deadline and cleans every master', async () => {
    const clock = new Clock();
    const prefix = `lazy${n++}:`;
    const writer = new RedisSessionStore({ client: cluster.client, prefix, clock: clock.now });
    for (let u = 0; u < 30; u++) {
      await writer.create(record(clock, { userId: `user-${u}`, expiresAt: new Date(clock.t + 1000) }));
    }
    // A cleanup-only worker: the README's set-up, connected, never used for anything else.
    const nodes = cluster.client.nodes('master').map((node) => ({ host: node.options.host, port: node.options.port }));
    const worker = new Cluster(nodes as { host: string; port: number }[], {
      enableOfflineQueue: false,
      redisOptions: { ...CLIENT_OPTIONS },
      lazyConnect: true,
    });
    await worker.connect();
    for (let i = 0; i < 100 && worker.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
    try {
      expect(
        worker.nodes('master').some((node) => node.status === 'wait'),
        'some master is not connected yet',
      ).toBe(true);
      const store = new RedisSessionStore({ client: worker, prefix, clock: clock.now, operationTimeoutMs: 3000 });
      clock.t += 1000;
      expect(await store.cleanupExpired()).toBe(30);
      expect(await writer.listByUser('user-0', tenantId('acme'))).toEqual([]);
    } finally {
      worker.disconnect();
      await dropKeys(cluster.client, prefix);
    }
  });
});

describe('only SessionErrors escape', () => {
  it('a metadata getter that throws, a clock that throws: every method rejects with a SessionError', async () => {
    const clock = new Clock();
    const prefix = `err${n++}:`;
    const ok = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
    const id = await ok.create(record(clock));
    const hostile = {
      get boom() {
        throw new TypeError('getter says no');
      },
    };
    for (const run of [
      () => ok.create(record(clock, { metadata: hostile as never })),
      () => ok.update({ ...record(clock, { id }), metadata: hostile as never }),
    ]) {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(SessionError.isInstance(error), String(error)).toBe(true);
      expect(['STORAGE', 'INVALID']).toContain((error as SessionError).code);
    }
    const broken = new RedisSessionStore({
      client: single.client,
      prefix,
      clock: () => {
        throw new RangeError('clock is broken');
      },
    });
    const calls: [string, () => Promise<unknown>][] = [
      ['create', () => broken.create(record(clock))],
      ['get', () => broken.get(id)],
      ['update', () => broken.update(record(clock, { id }))],
      ['delete', () => broken.delete(id)],
      ['deleteByUser', () => broken.deleteByUser('alice', tenantId('acme'))],
      ['extend', () => broken.extend(id, 1000)],
      ['touch', () => broken.touch(id)],
      ['listByUser', () => broken.listByUser('alice', tenantId('acme'))],
      ['cleanupExpired', () => broken.cleanupExpired()],
    ];
    for (const [name, run] of calls) {
      const error = await run().then(
        () => 'resolved',
        (e: unknown) => e,
      );
      if (name === 'delete' && error === 'resolved') continue; // delete never reads the clock
      expect(SessionError.hasCode(error, 'STORAGE'), `${name}: ${String(error)}`).toBe(true);
      expect((error as SessionError).cause).toBeInstanceOf(RangeError);
    }
    await dropKeys(single.client, prefix);
  });
});

for (const mode of ['single', 'cluster'] as const) {
  const client = () => (mode === 'single' ? single.client : cluster.client);

  describe(`the tag secret's key lost while stores run (${mode})`, () => {
    it('a store that knows the old secret never switches to a new one: it rejects STORAGE until the key holds its secret again', async () => {
      const clock = new Clock();
      const prefix = `swap${n++}:`;
      const key = new KeyLayout(prefix).secret();
      const old = new RedisSessionStore({ client: client(), prefix, clock: clock.now });
      const id = await old.create(record(clock));
      const secret = (await client().get(key)) as string;
      await client().del(key); // lost before `old` wrote it back...
      const fresh = new RedisSessionStore({ client: client(), prefix, clock: clock.now });
      await fresh.listByUser('someone', tenantId('acme')); // ...and a new process made another
      expect(await client().get(key)).not.toBe(secret);
      // At its next check (once a minute; forced here) `old` finds the other secret.
      expect((await aMinuteLater(() => old.listByUser('alice', tenantId('acme')))).map((s) => s.id)).toEqual([id]);
      let error: unknown;
      for (let i = 0; i < 100 && error === undefined; i++) {
        error = await old.listByUser('alice', tenantId('acme')).then(
          (listed) => {
            expect(
              listed.map((s) => s.id),
              'never an empty list',
            ).toEqual([id]);
            return undefined;
          },
          (e: unknown) => e,
        );
        if (error === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      expect(SessionError.hasCode(error, 'STORAGE'), String(error)).toBe(true);
      expect((error as Error).message).toContain('tag secret');
      // "Log out everywhere" fails loudly instead of resolving 0.
      await expect(old.deleteByUser('alice', tenantId('acme'))).rejects.toMatchObject({ code: 'STORAGE' });
      await expect(old.create(record(clock))).rejects.toMatchObject({ code: 'STORAGE' });
      expect((await old.get(id))?.userId, 'by-id operations still work').toBe('alice');
      // Once an operator puts the secret back, the same store works again.
      await client().set(key, secret, 'PX', 2 * 86_400_000);
      expect((await old.listByUser('alice', tenantId('acme'))).map((s) => s.id)).toEqual([id]);
      expect(await old.deleteByUser('alice', tenantId('acme'))).toBe(1);
      await dropKeys(client(), prefix);
    });

    it('with the tagSecret option the key is never read or written, and stores agree through it', async () => {
      const clock = new Clock();
      const prefix = `fixed${n++}:`;
      const key = new KeyLayout(prefix).secret();
      const tagSecret = 'T'.repeat(43);
      const a = new RedisSessionStore({ client: client(), prefix, clock: clock.now, tagSecret });
      const id = await a.create(record(clock));
      if (mode === 'cluster') expect(id.slice(0, 4)).toBe(userTag(Buffer.from(tagSecret), 'acme', 'alice'));
      expect(await client().exists(key), 'no secret key in Redis').toBe(0);
      await client().set(key, 'S'.repeat(43)); // another secret in Redis changes nothing
      const b = new RedisSessionStore({ client: client(), prefix, clock: clock.now, tagSecret });
      expect((await b.listByUser('alice', tenantId('acme'))).map((s) => s.id)).toEqual([id]);
      expect(await b.deleteByUser('alice', tenantId('acme'))).toBe(1);
      for (const bad of ['short', 1234, 'x'.repeat(31), `${'x'.repeat(40)}\n`]) {
        expect(() => new RedisSessionStore({ client: client(), prefix, tagSecret: bad as string })).toThrow(
          expect.objectContaining({ code: 'INVALID', field: 'tagSecret' }),
        );
      }
      await dropKeys(client(), prefix);
    });
  });

  describe(`listByUser paging and eviction under stale entries (${mode})`, () => {
    it('a delete between two page calls never hides a live session (keyset paging)', async () => {
      const clock = new Clock();
      const prefix = `keyset${n++}:`;
      const real = client();
      const plain = new RedisSessionStore({ client: real, prefix, clock: clock.now, maxSessionsPerUser: 10_000 });
      const ids: string[] = [];
      for (let i = 0; i < 1200; i += 200) {
        ids.push(
          ...(await Promise.all(
            Array.from({ length: 200 }, (_, k) =>
              plain.create(record(clock, { expiresAt: new Date(clock.t + HOUR + (i + k) * 1000) })),
            ),
          )),
        );
      }
      // After the first page, another request deletes ten sessions of that page.
      let pages = 0;
      const spy = new Proxy(real, {
        get(target, key) {
          if (key === 'evalsha') {
            return async (...args: unknown[]) => {
              const reply = await (target.evalsha as (...a: unknown[]) => Promise<unknown>)(...args);
              if (args[0] === LIST.sha && ++pages === 1) {
                for (const id of ids.slice(0, 10)) await plain.delete(id);
              }
              return reply;
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const store = new RedisSessionStore({ client: spy, prefix, clock: clock.now, maxSessionsPerUser: 10_000 });
      const listed = await store.listByUser('alice', tenantId('acme'));
      expect(pages, 'several pages').toBeGreaterThanOrEqual(3);
      const got = new Set(listed.map((s) => s.id));
      const missing = ids.slice(10).filter((id) => !got.has(id));
      expect(missing, 'every session alive throughout is listed').toEqual([]);
      await dropKeys(real, prefix);
    });

    it('maxSessionsPerUser holds even when stale entries use up the eviction read budget', async () => {
      const clock = new Clock();
      const prefix = `stale${n++}:`;
      const store = new RedisSessionStore({ client: client(), prefix, clock: clock.now, maxSessionsPerUser: 3 });
      const live = [];
      for (let i = 0; i < 3; i++)
        live.push(await store.create(record(clock, { expiresAt: new Date(clock.t + 2 * HOUR + i) })));
      const tag = userTag(await secretOf(client(), prefix), 'acme', 'alice');
      const ik = new KeyLayout(prefix).index(tag, 'acme', 'alice');
      // 600 entries whose records Redis dropped (e.g. evicted under maxmemory), expiring sooner.
      const stale: (string | number)[] = [];
      for (let i = 0; i < 600; i++) stale.push(clock.t + HOUR + i, `${prefix}s:{${tag}}gone-${i}`);
      await (client() as Redis).zadd(ik, ...stale);
      const added = await store.create(record(clock, { expiresAt: new Date(clock.t + 3 * HOUR) }));
      const listed = (await store.listByUser('alice', tenantId('acme'))).map((s) => s.id);
      expect(listed, 'the user holds exactly maxSessionsPerUser').toHaveLength(3);
      expect(listed.sort()).toEqual([live[1], live[2], added].sort());
      expect(await store.get(live[0] as string), 'the soonest-expiring live one went').toBeNull();
      await dropKeys(client(), prefix);
    });
  });
}

describe('the LIST script and its deadline', () => {
  it('prunes only before the deadline; past it, it only reads', async () => {
    const prefix = `listdl${n++}:`;
    const ik = `${prefix}u:{abcd}4:acmealice`;
    const now = Date.now();
    await single.client.zadd(ik, now - 10 * HOUR, `${prefix}s:{abcd}old`, now + HOUR, `${prefix}s:{abcd}gone`);
    const run = (deadline: number) => single.client.eval(LIST.source, 1, ik, deadline, now, HOUR, 500, '', '');
    expect(await run(1)).toEqual([-1, '']);
    expect(await single.client.zcard(ik), 'nothing pruned after the deadline').toBe(2);
    expect(await run(now + 60_000)).toEqual([-1, '']);
    expect(await single.client.exists(ik), 'both entries pruned before it').toBe(0);
  });
});

describe('error messages never carry stored data', () => {
  it('an unexpected reply holding a record is described by its shape only', async () => {
    const clock = new Clock();
    const prefix = `msg${n++}:`;
    const store = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
    const secretish = { userId: 'alice-private', metadata: { card: 'secret-4242' } };
    const id = await store.create(record(clock, secretish));
    // The header's createdAt no longer matches the JSON: update's script answers {'I', record}
    // and the immutable fields the store compares are equal, so the reply is unexpected.
    await single.client.setrange(new KeyLayout(prefix).record(id), 36, String(clock.t + 7).padEnd(17, ' '));
    const error = await store.update(record(clock, { ...secretish, id })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(SessionError.hasCode(error, 'STORAGE'), String(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('unexpected reply');
    for (const leak of ['alice-private', 'secret-4242', id]) expect(message).not.toContain(leak);
    expect(replyShape(['I', '{"userId":"x"}'])).toBe("array (2: 'I', string (14 characters))");
    await dropKeys(single.client, prefix);
  });
});
