// Real Redis servers for the tests: REDIS_URL / REDIS_CLUSTER_NODES when set, otherwise
// throwaway servers started here (a test fails with the reason when one cannot start).
import type { RedisCluster, RedisServer } from '@sessionkit/test-servers';
import { startRedis, startRedisCluster } from '@sessionkit/test-servers';
import { Cluster, Redis } from 'ioredis';

export interface SingleTarget {
  client: Redis;
  server: RedisServer | undefined;
  stop(): Promise<void>;
}

export interface ClusterTarget {
  client: Cluster;
  cluster: RedisCluster | undefined;
  stop(): Promise<void>;
}

/** Client options the README recommends: nothing is ever queued while disconnected. */
export const CLIENT_OPTIONS = { enableOfflineQueue: false, maxRetriesPerRequest: 0 } as const;

export async function singleRedis(): Promise<SingleTarget> {
  const server = process.env.REDIS_URL ? undefined : await startRedis();
  const client = new Redis(process.env.REDIS_URL ?? (server as RedisServer).url, {
    ...CLIENT_OPTIONS,
    lazyConnect: true,
  });
  await client.connect();
  return {
    client,
    server,
    async stop() {
      client.disconnect();
      await server?.stop();
    },
  };
}

export async function clusterRedis(): Promise<ClusterTarget> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES?.split(',').map((hp) => {
    const [host, port] = hp.split(':');
    return { host: host as string, port: Number(port) };
  });
  const cluster = fromEnv ? undefined : await startRedisCluster();
  const nodes = fromEnv ?? (cluster as RedisCluster).nodes;
  const client = new Cluster(nodes, {
    enableOfflineQueue: false,
    redisOptions: { ...CLIENT_OPTIONS },
    lazyConnect: true,
  });
  await client.connect();
  for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
  return {
    client,
    cluster,
    async stop() {
      client.disconnect();
      await cluster?.stop();
    },
  };
}

/** Deletes every key under `prefix` (on every master of a Cluster). */
export async function dropKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) await node.del(key);
    } while (cursor !== '0');
  }
}
