// The sessionkit store under the app: PostgreSQL when DATABASE_URL is set, Redis when
// REDIS_URL is set, otherwise in memory.
import { MemorySessionStore } from '@sessionkit/store-memory';
import { PostgresSessionStore } from '@sessionkit/store-postgres';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { Redis } from 'ioredis';
import pg from 'pg';

export async function openStore(env = process.env) {
  if (env.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL });
    const store = new PostgresSessionStore({ pool });
    await store.migrate();
    const close = async () => {
      await store.close();
      await pool.end();
    };
    return { name: 'PostgreSQL', store, close };
  }
  if (env.REDIS_URL) {
    // nothing queued while disconnected: a request fails fast instead of replaying later
    // (store-redis batches the reads of one event-loop turn itself: see the express-session README)
    const client = new Redis(env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const store = new RedisSessionStore({ client });
    const close = async () => {
      await store.close();
      client.disconnect();
    };
    return { name: 'Redis', store, close };
  }
  const store = new MemorySessionStore({ cleanupIntervalMs: 60_000 });
  return { name: 'memory', store, close: () => store.close() };
}
