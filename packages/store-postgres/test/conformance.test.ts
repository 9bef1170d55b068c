import { describeSessionStore } from '@sessionkit/core/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { PostgresSessionStore as Store } from '../src/index.js';
import { PostgresSessionStore } from '../src/index.js';
import { database, makePool, uniqueName } from './helpers.js';

let db: Awaited<ReturnType<typeof database>>;
let pool: pg.Pool;
const schema = uniqueName('conformance');
let n = 0;

beforeAll(async () => {
  db = await database();
  pool = makePool(db.url);
  await pool.query(`CREATE SCHEMA "${schema}"`);
});

afterAll(async () => {
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool?.end();
  await db?.stop();
});

describeSessionStore<Store>({
  name: 'PostgresSessionStore',
  // Every store gets its own table, so the suite's exact counts hold.
  create: async ({ clock, maxLifetimeMs, maxRecordBytes, ...rest }) => {
    // maxSessionsPerUser comes with the suite's tests of it (older suites do not pass it).
    const { maxSessionsPerUser } = rest as { maxSessionsPerUser?: number };
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
  runner: { describe, it },
});
