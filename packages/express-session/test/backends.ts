// Every server-side sessionkit store on a real backend: throwaway servers started here
// (or REDIS_URL, REDIS_CLUSTER_NODES, DATABASE_URL, MEMCACHED_SERVERS when set). A server
// that cannot start fails the test with the reason.
import { randomUUID } from 'node:crypto';
import type { SessionStore } from '@sessionkit/core';
import { MemcachedSessionStore } from '@sessionkit/store-memcached';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { PostgresSessionStore } from '@sessionkit/store-postgres';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { startMemcached, startPostgres, startRedis, startRedisCluster } from '@sessionkit/test-servers';
import { Cluster, Redis } from 'ioredis';
import memjs from 'memjs';
import pg from 'pg';

export type BackendName = 'memory' | 'redis' | 'redis-cluster' | 'postgres' | 'memcached';
export const BACKENDS: BackendName[] = ['memory', 'redis', 'redis-cluster', 'postgres', 'memcached'];

export interface Backend {
  name: BackendName;
  /** A fresh store with keys, table or prefix of its own. */
  makeStore(options?: { operationTimeoutMs?: number }): Promise<SessionStore>;
  stop(): Promise<void>;
}

/** ioredis options the store-redis README recommends: nothing queued while disconnected. */
const REDIS_CLIENT = { enableOfflineQueue: false, maxRetriesPerRequest: 0 } as const;

function unique(): string {
  return randomUUID().replace(/-/g, '').slice(0, 12);
}

export async function startBackend(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'memory':
      return { name, makeStore: async () => new MemorySessionStore(), stop: async () => {} };
    case 'redis': {
      const server = process.env.REDIS_URL ? undefined : await startRedis();
      // with enableAutoPipelining (the README keeps ioredis's defaults, as the Cluster backend
      // below does, so both settings are tested)
      const client = new Redis(process.env.REDIS_URL ?? (server?.url as string), {
        ...REDIS_CLIENT,
        enableAutoPipelining: true,
        lazyConnect: true,
      });
      await client.connect();
      return {
        name,
        makeStore: async (o = {}) => new RedisSessionStore({ client, prefix: `xs-${unique()}:`, ...o }),
        stop: async () => {
          client.disconnect();
          await server?.stop();
        },
      };
    }
    case 'redis-cluster': {
      const fromEnv = process.env.REDIS_CLUSTER_NODES?.split(',').map((hp) => {
        const [host, port] = hp.split(':');
        return { host: host as string, port: Number(port) };
      });
      const cluster = fromEnv ? undefined : await startRedisCluster();
      const client = new Cluster(fromEnv ?? (cluster?.nodes as { host: string; port: number }[]), {
        enableOfflineQueue: false,
        redisOptions: { ...REDIS_CLIENT },
        lazyConnect: true,
      });
      await client.connect();
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
      return {
        name,
        makeStore: async (o = {}) => new RedisSessionStore({ client, prefix: `xs-${unique()}:`, ...o }),
        stop: async () => {
          client.disconnect();
          await cluster?.stop();
        },
      };
    }
    case 'postgres': {
      const server = process.env.DATABASE_URL ? undefined : await startPostgres();
      const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? server?.url, max: 10 });
      pool.on('error', () => {});
      const schema = `xs_${unique()}`;
      await pool.query(`CREATE SCHEMA "${schema}"`);
      return {
        name,
        makeStore: async (o = {}) => {
          const store = new PostgresSessionStore({ pool, schema, table: `t_${unique()}`, ...o });
          await store.migrate();
          return store;
        },
        stop: async () => {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
          await pool.end();
          await server?.stop();
        },
      };
    }
    case 'memcached': {
      const external = process.env.MEMCACHED_SERVERS;
      const server = external ? undefined : await startMemcached();
      const client = memjs.Client.create(external ?? server?.server, {
        timeout: 1,
        retries: 1,
        logger: { log() {} },
      });
      return {
        name,
        makeStore: async (o = {}) => new MemcachedSessionStore({ client, prefix: `xs-${unique()}:`, ...o }),
        stop: async () => {
          client.close();
          await server?.stop();
        },
      };
    }
  }
}

export type Counts = Record<string, number>;

/** The store with every method call counted (the backend underneath is the real one). */
export function counted(store: SessionStore): { store: SessionStore; counts: Counts; writes(): number } {
  const counts: Counts = {};
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        counts[prop] = (counts[prop] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  const writes = () => ['create', 'update', 'extend', 'touch', 'delete'].reduce((sum, m) => sum + (counts[m] ?? 0), 0);
  return { store: proxy, counts, writes };
}
