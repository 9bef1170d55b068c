// One round trip per operation, proved with INFO commandstats deltas on real servers:
// every operation issues exactly one command (GET for a lone get on a single Redis, otherwise
// one EVALSHA); everything else counted ran inside that script.
import { tenantId } from '@sessionkit/core';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import * as scripts from '../src/scripts/index.js';
import { type ClusterTarget, clusterRedis, dropKeys, type SingleTarget, singleRedis } from './servers.js';

let single: SingleTarget;
let cluster: ClusterTarget;

beforeAll(async () => {
  [single, cluster] = await Promise.all([singleRedis(), clusterRedis()]);
});
afterAll(async () => {
  await Promise.all([single?.stop(), cluster?.stop()]);
});

/** Commands a script runs inside Redis (they show in commandstats but are no round trip). */
function internals(script: scripts.Script): Set<string> {
  const names = new Set<string>();
  for (const m of script.source.matchAll(/redis\.call\('([A-Z]+)'/g)) names.add((m[1] as string).toLowerCase());
  return names;
}

async function commandStats(client: Redis | Cluster): Promise<Map<string, number>> {
  const nodes =
    'nodes' in client && typeof client.nodes === 'function' && client.isCluster
      ? (client as Cluster).nodes('master')
      : [client as Redis];
  const totals = new Map<string, number>();
  for (const node of nodes) {
    const text = await node.info('commandstats');
    for (const m of text.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
      totals.set(m[1] as string, (totals.get(m[1] as string) ?? 0) + Number(m[2]));
    }
  }
  return totals;
}

async function delta(client: Redis | Cluster, run: () => Promise<unknown>): Promise<Map<string, number>> {
  const before = await commandStats(client);
  await run();
  const after = await commandStats(client);
  const out = new Map<string, number>();
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    // INFO itself, and cluster topology refreshes of the Cluster client, are not the store's.
    if (d > 0 && name !== 'info' && name !== 'cluster') out.set(name, d);
  }
  return out;
}

function expectOneCommand(d: Map<string, number>, top: string, script?: scripts.Script): void {
  expect(d.get(top), `exactly one ${top} in ${JSON.stringify([...d])}`).toBe(1);
  const inside = script ? internals(script) : new Set<string>();
  for (const [name, calls] of d) {
    if (name === top) continue;
    expect(inside.has(name), `${name} x${calls} was sent outside the ${script?.name ?? top} script`).toBe(true);
  }
}

for (const mode of ['single', 'cluster'] as const) {
  describe(`one round trip per operation (${mode})`, () => {
    it('get, touch, extend, update, delete, create, listByUser, deleteByUser each send one command', async () => {
      const client = mode === 'single' ? single.client : cluster.client;
      const prefix = `rt-${mode}:`;
      const store = new RedisSessionStore({ client, prefix });
      const now = Date.now();
      const record = {
        id: '',
        userId: 'u:{1}',
        tenantId: tenantId('t{x}:|'),
        transactionId: 'tx',
        factorsUsed: ['password'],
        assuranceLevel: 1,
        metadata: { a: 1 },
        createdAt: new Date(now),
        expiresAt: new Date(now + 3_600_000),
        lastActivityAt: new Date(now),
      };
      // Warm up: the first write measures the Redis clock (TIME) once and loads the tag
      // secret; scripts get loaded.
      const warm = await store.create(record);
      await store.get(warm);
      await store.touch(warm);
      await store.extend(warm, 60_000);
      await store.update({ ...record, id: warm });
      await store.delete(warm);
      await store.listByUser(record.userId, record.tenantId);
      await store.deleteByUser(record.userId, record.tenantId);

      let id = '';
      expectOneCommand(await delta(client, async () => (id = await store.create(record))), 'evalsha', scripts.CREATE);
      expect(id).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expectOneCommand(
        await delta(client, () => store.get(id)),
        mode === 'single' ? 'get' : 'evalsha',
        mode === 'single' ? undefined : scripts.GET,
      );
      expectOneCommand(await delta(client, () => store.touch(id)), 'evalsha', scripts.TOUCH);
      expectOneCommand(await delta(client, () => store.extend(id, 120_000)), 'evalsha', scripts.EXTEND);
      expectOneCommand(
        await delta(client, () => store.update({ ...record, id, metadata: { b: 2 } })),
        'evalsha',
        scripts.UPDATE,
      );
      expectOneCommand(
        await delta(client, () => store.listByUser(record.userId, record.tenantId)),
        'evalsha',
        scripts.LIST,
      );
      expectOneCommand(await delta(client, () => store.delete(id)), 'evalsha', scripts.DELETE);
      expectOneCommand(
        await delta(client, () => store.get(id)),
        mode === 'single' ? 'get' : 'evalsha',
        mode === 'single' ? undefined : scripts.GET,
      );
      await store.create(record);
      expectOneCommand(
        await delta(client, () => store.deleteByUser(record.userId, record.tenantId)),
        'evalsha',
        scripts.DELETE_USER,
      );
      await dropKeys(client, prefix);
    });
  });
}

describe('caller-chosen ids', () => {
  it('on a single Redis cost one command too', async () => {
    const client = single.client;
    const store = new RedisSessionStore({ client, prefix: 'rt-custom:' });
    const now = Date.now();
    const record = {
      id: 'my id {with} braces',
      userId: 'u',
      tenantId: tenantId('t'),
      transactionId: '',
      factorsUsed: [],
      assuranceLevel: 0,
      metadata: null,
      createdAt: new Date(now),
      expiresAt: new Date(now + 60_000),
      lastActivityAt: new Date(now),
    };
    await store.touch('warm-up').catch(() => {});
    await store.listByUser('warm-up', tenantId('t')); // loads the tag secret
    expectOneCommand(await delta(client, () => store.create(record)), 'evalsha', scripts.CREATE);
    expectOneCommand(await delta(client, () => store.get(record.id)), 'get');
    expectOneCommand(await delta(client, () => store.touch(record.id)), 'evalsha', scripts.TOUCH);
    expectOneCommand(await delta(client, () => store.delete(record.id)), 'evalsha', scripts.DELETE);
    await dropKeys(client, 'rt-custom:');
  });

  it('on Cluster cost at most two commands (pointer, then record) and delete a third (drop the pointer)', async () => {
    const client = cluster.client;
    const store = new RedisSessionStore({ client, prefix: 'rt-custom:' });
    const now = Date.now();
    const record = {
      id: 'my id {with} braces',
      userId: 'u',
      tenantId: tenantId('t'),
      transactionId: '',
      factorsUsed: [],
      assuranceLevel: 0,
      metadata: null,
      createdAt: new Date(now),
      expiresAt: new Date(now + 60_000),
      lastActivityAt: new Date(now),
    };
    await store.touch('warm-up').catch(() => {});
    await store.listByUser('warm-up', tenantId('t')); // loads the tag secret
    let d = await delta(client, () => store.create(record));
    expect(d.get('evalsha')).toBe(2); // claim + create
    d = await delta(client, () => store.get(record.id));
    expect(d.get('evalsha')).toBe(2);
    d = await delta(client, () => store.touch(record.id));
    expect(d.get('evalsha')).toBe(2);
    d = await delta(client, () => store.delete(record.id));
    expect(d.get('evalsha')).toBe(3);
    expect(await store.get(record.id)).toBeNull();
    await dropKeys(client, 'rt-custom:');
  });
});
