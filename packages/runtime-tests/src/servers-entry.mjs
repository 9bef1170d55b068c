// The server stores' conformance suites under Bun (run directly by bun, not bundled:
// Bun provides node:net, node:tls and the rest the drivers need). The harness
// (src/run.mjs) starts throwaway servers from Node and passes their addresses in
// SESSIONKIT_RT_REDIS_URL, SESSIONKIT_RT_DATABASE_URL and SESSIONKIT_RT_MEMCACHED.
import { describeSessionStore } from '@sessionkit/core/testing';
import { MemcachedSessionStore } from '@sessionkit/store-memcached';
import { PostgresSessionStore } from '@sessionkit/store-postgres';
import { RedisSessionStore } from '@sessionkit/store-redis';
import Redis from 'ioredis';
import memjs from 'memjs';
import pg from 'pg';
import { describe, it, runAll } from './runner.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the harness starts the servers)`);
  return value;
};
const runner = { describe, it };
const tag = `bun${process.pid}`;
let n = 0;

const redis = new Redis(env('SESSIONKIT_RT_REDIS_URL'), {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  lazyConnect: true,
});
const pool = new pg.Pool({ connectionString: env('SESSIONKIT_RT_DATABASE_URL'), max: 10 });
pool.on('error', () => {});
const memcached = memjs.Client.create(env('SESSIONKIT_RT_MEMCACHED'), { timeout: 1, retries: 1, logger: { log() {} } });
const schema = `rt_${tag}`;
const redisPrefixes = new WeakMap();

describeSessionStore({
  name: 'RedisSessionStore (single) on Bun',
  create: ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser }) => {
    const prefix = `${tag}-${n++}:`;
    const store = new RedisSessionStore({
      client: redis,
      prefix,
      clock,
      maxLifetimeMs,
      maxRecordBytes,
      maxSessionsPerUser,
    });
    redisPrefixes.set(store, prefix);
    return store;
  },
  destroy: async (store) => {
    await store.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefixes.get(store)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  },
  runner,
});

describeSessionStore({
  name: 'PostgresSessionStore on Bun',
  create: async ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser }) => {
    const store = new PostgresSessionStore({
      pool,
      schema,
      table: `t${n++}`,
      clock,
      maxLifetimeMs,
      maxRecordBytes,
      maxSessionsPerUser,
    });
    await store.migrate();
    return store;
  },
  destroy: async (store) => {
    await store.close();
    await pool.query(`DROP TABLE IF EXISTS "${store.schema}"."${store.table}"`);
  },
  runner,
});

describeSessionStore({
  name: 'MemcachedSessionStore on Bun',
  create: ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser }) =>
    new MemcachedSessionStore({
      client: memcached,
      prefix: `${tag}m${n++}:`,
      clock,
      maxLifetimeMs,
      maxRecordBytes,
      maxSessionsPerUser,
    }),
  capabilities: { list: true, revoke: true, revokeUser: true, mutate: true, cleanup: false, customIds: true },
  runner,
});

await redis.connect();
await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
let results;
try {
  results = await runAll();
} finally {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool.end();
  redis.disconnect();
  memcached.close();
}
console.log(`SESSIONKIT_RESULTS ${JSON.stringify({ info: { bun: process.versions.bun }, results })}`);
