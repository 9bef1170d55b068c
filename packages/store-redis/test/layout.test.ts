// Key layout on real servers: every key under the prefix and expiring at the right time,
// the record and its user index in one hash slot, no (tenant, user) collisions,
// caller-chosen ids on Cluster (pointers), cleanup across masters, constructor checks.
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import fc from 'fast-check';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { idTag, KeyLayout } from '../src/keys.js';
import { userTag } from '../src/user-tags.js';
import { Clock, HOUR, record } from './records.js';
import { type ClusterTarget, clusterRedis, dropKeys, type SingleTarget, singleRedis } from './servers.js';

let single: SingleTarget;
let cluster: ClusterTarget;
let n = 0;

beforeAll(async () => {
  [single, cluster] = await Promise.all([singleRedis(), clusterRedis()]);
});
afterAll(async () => {
  await Promise.all([single?.stop(), cluster?.stop()]);
});

async function allKeys(client: Redis | Cluster, prefix: string): Promise<{ key: string; expireAt: number }[]> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const out: { key: string; expireAt: number }[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', '*', 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        if (key.startsWith(prefix) || !key.startsWith('layout'))
          out.push({ key, expireAt: Number(await node.pexpiretime(key)) });
      }
    } while (cursor !== '0');
  }
  return out;
}

/** The tag secret the stores on `prefix` share (made by a store's first operation). */
async function secretOf(client: Redis | Cluster, prefix: string): Promise<Buffer> {
  const value = await client.get(new KeyLayout(prefix).secret());
  expect(value, 'the tag secret exists').toBeTypeOf('string');
  return Buffer.from(value as string);
}

function open(client: Redis | Cluster, clock: Clock, extra: Record<string, unknown> = {}) {
  const prefix = `layout${n++}:`;
  return { prefix, store: new RedisSessionStore({ client, prefix, clock: clock.now, ...extra }) };
}

for (const mode of ['single', 'cluster'] as const) {
  const client = () => (mode === 'single' ? single.client : cluster.client);

  describe(`key layout (${mode})`, () => {
    it('writes only keys under its prefix, each expiring: records at expiresAt + retention, the index at its latest session + retention', async () => {
      const clock = new Clock();
      const retention = 90_000;
      const { prefix, store } = open(client(), clock, { expiredRetentionMs: retention });
      const user = { userId: 'u:{x}|1', tenantId: tenantId('t}{:') };
      const a = await store.create(record(clock, { ...user, expiresAt: new Date(clock.t + HOUR) }));
      const b = await store.create(record(clock, { ...user, expiresAt: new Date(clock.t + 2 * HOUR) }));
      const c = await store.create(
        record(clock, { ...user, id: 'caller chosen {id}', expiresAt: new Date(clock.t + 3 * HOUR) }),
      );
      const layout = new KeyLayout(prefix);
      const tag = userTag(await secretOf(client(), prefix), user.tenantId, user.userId);
      const index = layout.index(tag, user.tenantId, user.userId);
      const secretKey = layout.secret();
      const all = async () => new Map((await allKeys(client(), prefix)).map((k) => [k.key, k.expireAt]));
      // The tag secret's key outlives every other key of the store.
      const expiry = async () => {
        const keys = await all();
        const secretAt = keys.get(secretKey) as number;
        keys.delete(secretKey);
        for (const [key, at] of keys) expect(secretAt, `the tag secret outlives ${key}`).toBeGreaterThanOrEqual(at);
        return keys;
      };

      let keys = await all();
      expect(keys.has(secretKey), 'the tag secret is a key of its own').toBe(true);
      for (const [key, at] of keys) {
        expect(key.startsWith(prefix), `${key} is under the prefix`).toBe(true);
        expect(at, `${key} expires`).toBeGreaterThan(0);
      }
      keys = await expiry();
      expect(keys.get(layout.record(a))).toBe(clock.t + HOUR + retention);
      expect(keys.get(layout.record(b))).toBe(clock.t + 2 * HOUR + retention);
      expect(keys.get(index)).toBe(clock.t + 3 * HOUR + retention);
      expect(keys.size).toBe(mode === 'single' ? 4 : 5); // 3 records + index (+ the pointer of c on Cluster)

      await store.delete(c);
      keys = await expiry();
      expect(keys.get(index), 'deleting the latest session shortens the index').toBe(clock.t + 2 * HOUR + retention);
      await store.extend(a, 5 * HOUR);
      keys = await expiry();
      expect(keys.get(layout.record(a))).toBe(clock.t + 5 * HOUR + retention);
      expect(keys.get(index)).toBe(clock.t + 5 * HOUR + retention);
      await store.extend(a, HOUR / 2);
      keys = await expiry();
      expect(keys.get(index), 'an extend that shortens the latest session shortens the index').toBe(
        clock.t + 2 * HOUR + retention,
      );
      await store.update({ ...((await store.get(b)) as SessionRecord), expiresAt: new Date(clock.t + 4 * HOUR) });
      keys = await expiry();
      expect(keys.get(layout.record(b))).toBe(clock.t + 4 * HOUR + retention);
      expect(keys.get(index)).toBe(clock.t + 4 * HOUR + retention);
      await store.delete(a);
      await store.delete(b);
      expect([...(await expiry()).keys()], 'nothing but the tag secret left once every session is gone').toEqual([]);
    });

    it('answers EXPIRED inside the retention window and null after cleanupExpired', async () => {
      const clock = new Clock();
      const { store } = open(client(), clock, { expiredRetentionMs: 10 * 60_000 });
      const id = await store.create(record(clock, { expiresAt: new Date(clock.t + 1000) }));
      clock.t += 1000;
      await expect(store.get(id)).rejects.toMatchObject({ code: 'EXPIRED' });
      await expect(store.touch(id)).rejects.toMatchObject({ code: 'EXPIRED' });
      expect(await store.listByUser('alice', tenantId('acme'))).toEqual([]);
      expect(await store.cleanupExpired()).toBe(1);
      expect(await store.get(id)).toBeNull();
    });

    it('touch and extend patch the header in place; the stored JSON is rewritten only by update', async () => {
      const clock = new Clock();
      const { prefix, store } = open(client(), clock);
      const id = await store.create(record(clock));
      const key = new KeyLayout(prefix).record(id);
      const node = client();
      const before = (await node.get(key)) as string;
      clock.t += 5000;
      await store.touch(id);
      const touched = (await node.get(key)) as string;
      expect(touched.length).toBe(before.length);
      expect(touched.slice(0, 18), 'expiresAt untouched').toBe(before.slice(0, 18));
      expect(touched.slice(18, 35).trim()).toBe(String(clock.t));
      expect(touched.slice(35), 'JSON and meta untouched').toBe(before.slice(35));
      expect((await store.get(id))?.lastActivityAt.getTime()).toBe(clock.t);
      await store.extend(id, 10_000);
      const extended = (await node.get(key)) as string;
      expect(extended.slice(0, 17).trim()).toBe(String(clock.t + 10_000));
      expect(extended.slice(35)).toBe(before.slice(35));
      expect(await node.pexpiretime(key)).toBe(clock.t + 10_000 + 3_600_000);
    });

    it('cleanupExpired removes expired sessions of many users, drops dangling entries, and counts each once under concurrent callers', async () => {
      const clock = new Clock();
      const { prefix, store } = open(client(), clock);
      const layout = new KeyLayout(prefix);
      const expiredIds: string[] = [];
      for (let u = 0; u < 40; u++) {
        const r = record(clock, { userId: `user-${u}`, expiresAt: new Date(clock.t + 1000) });
        expiredIds.push(await store.create(r));
        await store.create({ ...r, expiresAt: new Date(clock.t + HOUR) });
      }
      // A record that vanished behind the store's back leaves a dangling index entry.
      const gone = await store.create(record(clock, { userId: 'user-gone', expiresAt: new Date(clock.t + 1000) }));
      await client().del(layout.record(gone));
      clock.t += 1000;
      const counts = await Promise.all([store.cleanupExpired(), store.cleanupExpired(), store.cleanupExpired()]);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
      for (const id of expiredIds.slice(0, 5)) expect(await store.get(id)).toBeNull();
      expect(await store.listByUser('user-3', tenantId('acme'))).toHaveLength(1);
      const left = (await allKeys(client(), prefix)).map((k) => k.key);
      expect(
        left.filter((k) => k.includes('user-gone')),
        'the dangling entry and its index are gone',
      ).toEqual([]);
      expect(left.filter((k) => k !== layout.secret())).toHaveLength(80);
    });
  });
}

describe('hash slots and collisions', () => {
  it('a generated id carries its user slot tag: record and index share a slot, whatever the tenant and user hold', async () => {
    const clock = new Clock();
    const { prefix, store } = open(cluster.client, clock);
    const layout = new KeyLayout(prefix);
    await store.listByUser('warm-up', tenantId('t'));
    const secret = await secretOf(cluster.client, prefix);
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
        fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
        async (t, u) => {
          fc.pre(!/[\u0000-\u001f\u007f-\u009f]/.test(t + u));
          const id = await store.create(record(clock, { userId: u, tenantId: tenantId(t) }));
          expect(id).toMatch(/^[A-Za-z0-9_-]{47}$/);
          const tag = userTag(secret, t, u);
          expect(id.slice(0, 4)).toBe(tag);
          const recordSlot = await cluster.client.cluster('KEYSLOT', layout.record(id));
          const indexSlot = await cluster.client.cluster('KEYSLOT', layout.index(tag, t, u));
          const tagSlot = await cluster.client.cluster('KEYSLOT', tag);
          expect(recordSlot).toBe(indexSlot);
          expect(indexSlot, 'the slot is chosen by the hash, never by braces in the input').toBe(tagSlot);
          expect((await store.listByUser(u, tenantId(t))).map((s) => s.id)).toContain(id);
        },
      ),
      { numRuns: 30 },
    );
    await dropKeys(cluster.client, prefix);
  });

  it('distinct (tenant, user) pairs never share an index key, including prefixes and separators', () => {
    const layout = new KeyLayout('p:');
    const part = fc.string({
      minLength: 1,
      maxLength: 8,
      unit: fc.constantFrom('a', ':', '{', '}', '|', '1', 'é', '%'),
    });
    fc.assert(
      fc.property(part, part, part, part, (t1, u1, t2, u2) => {
        fc.pre(t1 !== t2 || u1 !== u2);
        const secret = Buffer.from('s'.repeat(43));
        expect(layout.index(userTag(secret, t1, u1), t1, u1)).not.toBe(layout.index(userTag(secret, t2, u2), t2, u2));
      }),
      { numRuns: 2000 },
    );
    expect(idTag('x'.repeat(47))).toBe('xxxx');
    expect(idTag('{abc}')).toMatch(/^[A-Za-z0-9_-]{4}$/);
  });

  it('sessions of colliding-looking tenants stay apart end to end', async () => {
    const clock = new Clock();
    for (const client of [single.client, cluster.client]) {
      const { prefix, store } = open(client, clock);
      const pairs: [string, string][] = [
        ['a:b', 'c'],
        ['a', 'b:c'],
        ['{a}', 'b'],
        ['a', '{a}b'],
        ['1:a', 'b'],
        ['1', ':ab'],
      ];
      for (const [t, u] of pairs) await store.create(record(clock, { tenantId: tenantId(t), userId: u }));
      for (const [t, u] of pairs) {
        const listed = await store.listByUser(u, tenantId(t));
        expect(listed.map((s) => [s.tenantId, s.userId])).toEqual([[t, u]]);
      }
      expect(await store.deleteByUser('b', tenantId('{a}'))).toBe(1);
      expect(await store.listByUser('{a}b', tenantId('a'))).toHaveLength(1);
      await dropKeys(client, prefix);
    }
  });
});

describe('caller-chosen ids on Cluster', () => {
  it('an id shaped like a generated one but tagged for another user works', async () => {
    const clock = new Clock();
    const { prefix, store } = open(cluster.client, clock);
    const mine = await store.create(record(clock, { userId: 'bob' }));
    const fake = `${mine.slice(0, 4)}${'Z'.repeat(43)}`;
    expect(await store.create(record(clock, { userId: 'carol', id: fake }))).toBe(fake);
    await expect(store.create(record(clock, { userId: 'dave', id: mine }))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await store.get(fake))?.userId).toBe('carol');
    await store.extend(fake, 2 * HOUR);
    expect((await store.listByUser('carol', tenantId('acme'))).map((s) => s.id)).toEqual([fake]);
    expect((await store.listByUser('bob', tenantId('acme'))).map((s) => s.id)).toEqual([mine]);
    expect(await store.deleteByUser('carol', tenantId('acme'))).toBe(1);
    expect(await store.get(fake)).toBeNull();
    // deleteByUser dropped the pointer too: the id is free again at once.
    expect(await store.create(record(clock, { userId: 'erin', id: fake }))).toBe(fake);
    await dropKeys(cluster.client, prefix);
  });

  it('cleanupExpired drops the pointer of a caller-chosen id with its record', async () => {
    const clock = new Clock();
    const { prefix, store } = open(cluster.client, clock, { expiredRetentionMs: 1000 });
    const id = 'chosen-for-cleanup';
    await store.create(record(clock, { id, expiresAt: new Date(clock.t + 1000) }));
    const pointer = new KeyLayout(prefix).pointer(id);
    expect(await cluster.client.exists(pointer), 'a caller-chosen id on Cluster has a pointer').toBe(1);
    clock.t += 2001; // past expiry and retention
    expect(await store.cleanupExpired()).toBe(1);
    expect(await cluster.client.exists(pointer), 'cleanupExpired dropped the pointer').toBe(0);
    await dropKeys(cluster.client, prefix);
  });

  it('a claim left by a create that failed is taken over once its lease has passed, never before', async () => {
    const clock = new Clock();
    const { prefix, store } = open(cluster.client, clock, { operationTimeoutMs: 500 });
    const layout = new KeyLayout(prefix);
    const id = 'left-behind';
    await store.listByUser('warm-up', tenantId('t'));
    const missingTarget = layout.customRecord(userTag(await secretOf(cluster.client, prefix), 'acme', 'ghost'), id);
    const [sec] = (await cluster.client.time()) as unknown as [string, string];
    const serverNow = Number(sec) * 1000;
    await cluster.client.set(layout.pointer(id), `${serverNow} ${missingTarget}`, 'PX', 60_000);
    await expect(store.create(record(clock, { id })), 'a fresh claim may still be in flight').rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await cluster.client.set(layout.pointer(id), `${serverNow - 10_000} ${missingTarget}`, 'PX', 60_000);
    expect(await store.create(record(clock, { id }))).toBe(id);
    expect((await store.get(id))?.userId).toBe('alice');
    // An old claim whose record exists is a real conflict.
    await cluster.client.pexpire(layout.pointer(id), 60_000);
    await expect(store.create(record(clock, { id, userId: 'zed' }))).rejects.toMatchObject({ code: 'CONFLICT' });
    await dropKeys(cluster.client, prefix);
  });
});

describe('foreign data under the prefix', () => {
  it('rejects STORAGE (with a cause) rather than returning a half-valid record', async () => {
    const clock = new Clock();
    const { prefix, store } = open(single.client, clock);
    const id = 'not-ours';
    await single.client.set(new KeyLayout(prefix).record(id), 'garbage', 'PX', 60_000);
    for (const run of [
      () => store.get(id),
      () => store.touch(id),
      () => store.extend(id, 1000),
      () => store.delete(id),
    ]) {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(SessionError.hasCode(error, 'STORAGE'), String(error)).toBe(true);
      expect((error as SessionError).cause).toBeDefined();
    }
    await single.client.set(new KeyLayout(prefix).record(id), '1', 'PX', 60_000);
    await expect(store.get(id)).rejects.toMatchObject({ code: 'STORAGE' });
    await dropKeys(single.client, prefix);
  });
});

describe('constructor', () => {
  it('a null prefix means the default prefix, as an undefined one does', async () => {
    const clock = new Clock();
    const store = new RedisSessionStore({ client: single.client, prefix: null as never, clock: clock.now });
    const id = await store.create(record(clock));
    expect(await single.client.exists(new KeyLayout('sessionkit:').record(id))).toBe(1);
    await store.delete(id);
  });

  it('rejects bad options with INVALID naming the option', () => {
    const client = single.client;
    const bad: [Record<string, unknown>, string][] = [
      [{ client: {} }, 'client'],
      [{ client: undefined }, 'client'],
      [{ client, prefix: 'a{b' }, 'prefix'],
      [{ client, prefix: 5 }, 'prefix'],
      [{ client, expiredRetentionMs: -1 }, 'expiredRetentionMs'],
      [{ client, operationTimeoutMs: 0 }, 'operationTimeoutMs'],
      [{ client, operationTimeoutMs: 1.5 }, 'operationTimeoutMs'],
      [{ client, operationTimeoutMs: 2 ** 31 }, 'operationTimeoutMs'], // past the largest timer delay
      [{ client, expiredRetentionMs: 8.64e15 + 1 }, 'expiredRetentionMs'],
      [{ client, maxRecordBytes: 10 }, 'maxRecordBytes'],
      [{ client, clock: 'now' }, 'clock'],
      [{ client, maxSessionsPerUser: 0 }, 'maxSessionsPerUser'],
      [{ client, maxSessionsPerUser: 2.5 }, 'maxSessionsPerUser'],
      [{ client, maxSessionsPerUser: 1_000_001 }, 'maxSessionsPerUser'],
      [{ client, maxSessionsPerUser: '10' }, 'maxSessionsPerUser'],
    ];
    for (const [options, field] of bad) {
      let error: unknown;
      try {
        new RedisSessionStore(options as never);
      } catch (e) {
        error = e;
      }
      expect(SessionError.hasCode(error, 'INVALID'), `${field}: ${String(error)}`).toBe(true);
      expect((error as SessionError).field).toBe(field);
      expect((error as SessionError).message).toContain(field);
    }
    expect(() => new RedisSessionStore(null as never)).toThrow(/options/);
  });

  it("close() resolves, twice, and leaves the caller's client connected", async () => {
    const store = new RedisSessionStore({ client: single.client });
    await store.close();
    await store.close();
    expect(single.client.status).toBe('ready');
    expect(await single.client.ping()).toBe('PONG');
  });
});
