// A hung (SIGSTOP) or dead (SIGKILL) Redis: every operation rejects STORAGE within
// operationTimeoutMs, the same store instance works once Redis is back, and nothing that
// rejected takes effect later. These tests start their own servers, and use ioredis
// clients with DEFAULT options (offline queue on): the store must not rely on the caller
// having turned it off.
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import type { RedisCluster, RedisServer } from '@sessionkit/test-servers';
import { startRedis, startRedisCluster } from '@sessionkit/test-servers';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';

const TIMEOUT = 400;
/** Scheduling noise allowed on a busy 2-core machine, on top of operationTimeoutMs. */
const SLACK = 1500;

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: '',
    userId: 'alice',
    tenantId: tenantId('acme'),
    transactionId: 'tx',
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { n: 1 },
    createdAt: new Date(now),
    expiresAt: new Date(now + 3_600_000),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

/**
 * Runs every operation at once; each must reject STORAGE within `limitMs` (default
 * TIMEOUT + SLACK). The creates are for the owner of `live`.
 */
async function everyOperationRejects(
  store: RedisSessionStore,
  live: SessionRecord,
  tag: string,
  limitMs = TIMEOUT + SLACK,
): Promise<void> {
  const owner = { userId: live.userId, tenantId: live.tenantId };
  const ops: [string, () => Promise<unknown>][] = [
    ['create', () => store.create(record({ id: `created-while-${tag}`, ...owner }))],
    ['create generated', () => store.create(record(owner))],
    ['get', () => store.get(live.id)],
    ['touch', () => store.touch(live.id)],
    ['extend', () => store.extend(live.id, 10 * 3_600_000)],
    ['update', () => store.update({ ...live, metadata: { changed: tag } })],
    ['delete', () => store.delete(live.id)],
    ['deleteByUser', () => store.deleteByUser(live.userId, live.tenantId)],
    ['listByUser', () => store.listByUser(live.userId, live.tenantId)],
    ['cleanupExpired', () => store.cleanupExpired()],
  ];
  const results = await Promise.all(
    ops.map(async ([name, run]) => {
      const start = performance.now();
      try {
        await run();
        return { name, error: undefined as unknown, ms: performance.now() - start };
      } catch (error) {
        return { name, error, ms: performance.now() - start };
      }
    }),
  );
  for (const { name, error, ms } of results) {
    expect(SessionError.hasCode(error, 'STORAGE'), `${name} must reject STORAGE, got ${String(error)}`).toBe(true);
    expect((error as SessionError).cause, `${name} carries a cause`).toBeDefined();
    expect(ms, `${name} rejected after ${Math.round(ms)} ms`).toBeLessThan(limitMs);
  }
}

async function waitReady(client: Redis | Cluster): Promise<void> {
  for (let i = 0; i < 200 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
  expect(client.status).toBe('ready');
}

async function expectUnchanged(store: RedisSessionStore, live: SessionRecord, tag: string): Promise<void> {
  const after = await store.get(live.id);
  expect(after, 'the delete that rejected did not happen').not.toBeNull();
  expect(after?.expiresAt.getTime(), 'the extend that rejected did not happen').toBe(live.expiresAt.getTime());
  expect(after?.metadata, 'the update that rejected did not happen').toEqual(live.metadata);
  expect(after?.lastActivityAt.getTime(), 'the touch that rejected did not happen').toBe(live.lastActivityAt.getTime());
  expect(await store.get(`created-while-${tag}`), 'the create that rejected did not happen').toBeNull();
  const listed = await store.listByUser(live.userId, live.tenantId);
  expect(
    listed.map((s) => s.id),
    'no generated create happened either',
  ).toEqual([live.id]);
}

describe('faults on a single Redis', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url); // default options: offline queue ON
    await waitReady(client);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('paused (SIGSTOP): every operation rejects STORAGE in time; after SIGCONT nothing of it happened', async () => {
    const store = new RedisSessionStore({ client, prefix: 'pause:', operationTimeoutMs: TIMEOUT });
    const id = await store.create(record({ userId: 'paused-user' }));
    const live = (await store.get(id)) as SessionRecord;
    server.pause();
    try {
      await everyOperationRejects(store, live, 'paused');
    } finally {
      server.resume();
    }
    await client.ping(); // everything sent while paused has now run (or refused to)
    await expectUnchanged(store, live, 'paused');
    await store.touch(id); // and the same instance works
  });

  it('killed (SIGKILL): every operation rejects STORAGE at once; after a restart the same instance works', async () => {
    // "At once": far sooner than operationTimeoutMs, which is long here so that waiting
    // for it (a command queued by the client's offline queue) cannot pass for it.
    const long = 6000;
    const store = new RedisSessionStore({ client, prefix: 'kill:', operationTimeoutMs: long });
    await store.create(record({ userId: 'killed-user' }));
    const live = (await store.listByUser('killed-user', tenantId('acme')))[0] as SessionRecord;
    await server.kill();
    // The client has seen the connection drop (it reconnects, with its offline queue on).
    for (let i = 0; i < 200 && client.status === 'ready'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(client.status).not.toBe('ready');
    await everyOperationRejects(store, live, 'killed', 1000);
    await server.restart();
    await waitReady(client);
    // The server lost its data (no persistence) and its script cache: NOSCRIPT is handled.
    expect(await store.get(`created-while-killed`)).toBeNull();
    expect(await store.listByUser('killed-user', tenantId('acme'))).toEqual([]);
    const id = await store.create(record({ userId: 'killed-user' }));
    await store.touch(id);
    expect((await store.get(id))?.id).toBe(id);
  });
});

describe('faults on Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.nodes); // default options: offline queue ON
    await waitReady(client);
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('one master paused: its operations reject STORAGE in time, the other masters keep working; after SIGCONT nothing of it happened', async () => {
    // A longer timeout than the single-Redis tests: the users on the other masters must keep
    // working within it on a busy machine.
    const timeout = 2000;
    const store = new RedisSessionStore({ client, prefix: 'cpause:', operationTimeoutMs: timeout });
    const layout = new KeyLayout('cpause:');
    const slots = (await client.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    const masterOf = async (key: string): Promise<number> => {
      const slot = Number(await client.cluster('KEYSLOT', key));
      return (slots.find(([from, to]) => slot >= from && slot <= to) as [number, number, [string, number]])[2][1];
    };
    // One session for each of 30 users, grouped by the master that holds the user's slot.
    const byMaster = new Map<number, SessionRecord[]>();
    for (let u = 0; u < 30; u++) {
      const id = await store.create(record({ userId: `user-${u}` }));
      const port = await masterOf(layout.record(id));
      byMaster.set(port, [...(byMaster.get(port) ?? []), (await store.get(id)) as SessionRecord]);
    }
    expect(byMaster.size, 'the users cover all 3 masters').toBe(3);
    const [pausedPort, [live]] = [...byMaster.entries()][0] as [number, SessionRecord[]];
    const others = [...byMaster.entries()].filter(([port]) => port !== pausedPort).map(([, list]) => list[0]);
    const server = cluster.servers.find((s) => s.port === pausedPort) as RedisServer;
    server.pause();
    try {
      await everyOperationRejects(store, live as SessionRecord, 'paused', timeout + SLACK);
      // Users on the other masters: every operation works while that master is paused.
      for (const other of others as SessionRecord[]) {
        const owner = [other.userId, other.tenantId] as const;
        // (No client command here: a CLUSTER command may go to the paused master.)
        expect((await store.get(other.id))?.userId).toBe(other.userId);
        await store.touch(other.id);
        await store.extend(other.id, 2 * 3_600_000);
        await store.update({ ...other, metadata: { still: 'working' }, expiresAt: new Date(Date.now() + 3_600_000) });
        const added = await store.create(record({ userId: other.userId }));
        expect((await store.listByUser(...owner)).map((s) => s.id).sort()).toEqual([other.id, added].sort());
        await store.delete(added);
        expect(await store.get(added)).toBeNull();
        expect((await store.get(other.id))?.metadata).toEqual({ still: 'working' });
      }
      const spare = others[0] as SessionRecord;
      expect(await store.deleteByUser(spare.userId, spare.tenantId)).toBe(1);
    } finally {
      server.resume();
    }
    for (const node of client.nodes('master')) await node.ping();
    await expectUnchanged(store, live as SessionRecord, 'paused');
    await store.touch((live as SessionRecord).id);
  });
});
