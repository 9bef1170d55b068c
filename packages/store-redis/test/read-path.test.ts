// The fast paths of get and touch (generated ids found with one pattern test; touch as one
// direct EVALSHA once the Redis clock is measured) against real servers: they answer as the
// full paths do, survive a flushed script cache, and keep the header intact whatever the
// clock returns.
import { type SessionRecord, tenantId } from '@sessionkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import { type ClusterTarget, clusterRedis, dropKeys, type SingleTarget, singleRedis } from './servers.js';

const HOUR = 3_600_000;
const pad = (ms: number) => String(ms).padEnd(17, ' ');
let single: SingleTarget;
let cluster: ClusterTarget;

beforeAll(async () => {
  [single, cluster] = await Promise.all([singleRedis(), clusterRedis()]);
});
afterAll(async () => {
  await Promise.all([single?.stop(), cluster?.stop()]);
});

function record(now: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: '',
    userId: 'alice',
    tenantId: tenantId('acme'),
    transactionId: 'tx',
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { ip: '203.0.113.7' },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

describe('get and touch fast paths', () => {
  it('touch on the hot path reloads its script after SCRIPT FLUSH (NOSCRIPT) and writes lastActivityAt', async () => {
    let t = Date.now();
    const store = new RedisSessionStore({ client: single.client, prefix: 'rp-flush:', clock: () => t });
    const id = await store.create(record(t)); // measures the Redis clock: touch takes its hot path
    await single.client.script('FLUSH');
    t += 1000;
    await store.touch(id);
    const got = (await store.get(id)) as SessionRecord;
    expect(got.lastActivityAt.getTime()).toBe(t);
    expect(got.expiresAt.getTime()).toBe(t - 1000 + HOUR);
    await store.close();
    await dropKeys(single.client, 'rp-flush:');
  });

  it('a clock with fractional milliseconds: touch keeps the 17-character header, get still decodes', async () => {
    const base = Date.now();
    let t = base;
    const store = new RedisSessionStore({ client: single.client, prefix: 'rp-frac:', clock: () => t });
    const id = await store.create(record(base));
    t = base + 1000.123456; // String() of it has more than 17 characters
    await store.touch(id);
    // The header keeps its layout: three 17-character times, each followed by a space.
    const value = (await single.client.get(new KeyLayout('rp-frac:').record(id))) as string;
    expect(value.slice(0, 54)).toBe(`${pad(base + HOUR)} ${pad(base + 1000)} ${pad(base)} `);
    const got = (await store.get(id)) as SessionRecord;
    expect(got.lastActivityAt.getTime()).toBe(base + 1000);
    expect(got.expiresAt.getTime()).toBe(base + HOUR);
    t = base + HOUR - 0.5; // not yet expired: expiresAt > now
    await store.touch(id);
    t = base + HOUR + 0.5;
    await expect(store.touch(id)).rejects.toMatchObject({ code: 'EXPIRED' });
    await expect(store.get(id)).rejects.toMatchObject({ code: 'EXPIRED' });
    await store.close();
    await dropKeys(single.client, 'rp-frac:');
  });

  for (const mode of ['single', 'cluster'] as const) {
    it(`ids shaped like generated ones but never issued, and other strings, answer as before (${mode})`, async () => {
      const client = mode === 'single' ? single.client : cluster.client;
      const prefix = `rp-ids-${mode}:`;
      const store = new RedisSessionStore({ client, prefix });
      const now = Date.now();
      const id = await store.create(record(now));
      // Generated ids carry the 4-character slot tag only on Cluster (single Redis: 43 random characters).
      expect(id).toHaveLength(mode === 'single' ? 43 : 47);
      const n = id.length;
      expect((await store.get(id))?.id).toBe(id);
      // Same shape, another tag or body: no session.
      const other = `${id.slice(0, n - 1)}${id.endsWith('A') ? 'B' : 'A'}`;
      expect(await store.get(other)).toBeNull();
      await expect(store.touch(other)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // Same length, not all base64url: the full checks (no session, or none possible).
      for (const odd of [`${id.slice(0, n - 1)}\u0000`, `${id.slice(0, n - 1)}.`, `${id.slice(0, n - 1)}\ud800`]) {
        expect(await store.get(odd)).toBeNull();
        await expect(store.touch(odd)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      // A caller-chosen id of 47 base64url characters is found under its hashed tag, like any caller-chosen id.
      const custom = 'c'.repeat(47);
      await store.create(record(now, { id: custom }));
      expect((await store.get(custom))?.id).toBe(custom);
      await store.touch(custom);
      expect(new KeyLayout(prefix).record(custom)).toBe(`${prefix}s:{cccc}${custom}`);
      for (const bad of [undefined, 42, null, ['x'.repeat(47)]]) {
        await expect(store.get(bad as unknown as string)).rejects.toMatchObject({ code: 'INVALID', field: 'id' });
        await expect(store.touch(bad as unknown as string)).rejects.toMatchObject({ code: 'INVALID', field: 'id' });
      }
      await store.close();
      await dropKeys(client, prefix);
    });
  }
});
