// Real backends for the manager's tests: store-memory in process, and throwaway Redis and
// PostgreSQL servers from @sessionkit/test-servers (REDIS_URL / DATABASE_URL when set).
import { type SessionStore, tenantId } from '@sessionkit/core';
import { MemcachedSessionStore } from '@sessionkit/store-memcached';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { PostgresSessionStore } from '@sessionkit/store-postgres';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { startMemcached, startPostgres, startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import memjs from 'memjs';
import pg from 'pg';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

/** A clock the tests move by hand, starting at the real time (Redis expiries stay in the future). */
export function manualClock() {
  let t = Date.now();
  const clock = () => t;
  return Object.assign(clock, {
    set(ms: number) {
      t = ms;
    },
    advance(ms: number) {
      t += ms;
      return t;
    },
  });
}
export type ManualClock = ReturnType<typeof manualClock>;

let seq = 0;
export function someone() {
  const r = `${process.pid}-${seq++}-${Math.random().toString(36).slice(2, 8)}`;
  return { userId: `user-${r}`, tenantId: tenantId(`tenant-${r}`) };
}

/** A store with counted writes (the real store underneath; only the calls are counted). */
export function counting<S extends SessionStore>(store: S): S & { writes: () => number } {
  let writes = 0;
  const counted = new Proxy(store, {
    get(target, key) {
      if (key === 'writes') return () => writes;
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      if (['create', 'update', 'extend', 'touch', 'delete', 'deleteByUser'].includes(String(key))) {
        return (...args: unknown[]) => {
          writes++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return counted as S & { writes: () => number };
}

export interface Backend {
  name: string;
  make(clock: () => number): Promise<SessionStore>;
  stop(): Promise<void>;
}

export function memoryBackend(): Backend {
  return {
    name: 'memory',
    make: async (clock) => new MemorySessionStore({ clock }),
    stop: async () => {},
  };
}

export async function redisBackend(): Promise<Backend> {
  const server = process.env.REDIS_URL ? undefined : await startRedis();
  const client = new Redis(process.env.REDIS_URL ?? (server?.url as string), {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
  await client.connect();
  let n = 0;
  return {
    name: 'redis',
    make: async (clock) => new RedisSessionStore({ client, clock, prefix: `mgr${process.pid}-${n++}:` }),
    async stop() {
      client.disconnect();
      await server?.stop();
    },
  };
}

export async function postgresBackend(): Promise<Backend> {
  const server = process.env.DATABASE_URL ? undefined : await startPostgres();
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? server?.url, max: 4 });
  pool.on('error', () => {});
  const schema = `mgr_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await pool.query(`CREATE SCHEMA "${schema}"`);
  let n = 0;
  return {
    name: 'postgres',
    async make(clock) {
      const store = new PostgresSessionStore({ pool, schema, table: `t${n++}`, clock });
      await store.migrate();
      return store;
    },
    async stop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await pool.end();
      await server?.stop();
    },
  };
}

export async function memcachedBackend(): Promise<Backend> {
  const server = process.env.MEMCACHED_SERVERS ? undefined : await startMemcached();
  const quiet = { log: () => {} };
  const client = memjs.Client.create(process.env.MEMCACHED_SERVERS ?? server?.server, {
    timeout: 1,
    retries: 1,
    logger: quiet,
  });
  let n = 0;
  return {
    name: 'memcached',
    make: async (clock) => new MemcachedSessionStore({ client, clock, prefix: `mgr${process.pid}-${n++}:` }),
    async stop() {
      client.close();
      await server?.stop();
    },
  };
}
