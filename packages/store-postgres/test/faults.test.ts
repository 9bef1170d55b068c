// Fault tests always start their own server: they pause (SIGSTOP) and kill (SIGKILL) it.
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import { type PostgresServer, startPostgres } from '@sessionkit/test-servers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresSessionStore } from '../src/index.js';
import { makePool, rand, record } from './helpers.js';

const TIMEOUT = 500;
/** Generous slack over operationTimeoutMs for a loaded 2-core machine. */
const SLACK = 2500;

let server: PostgresServer;
let pool: pg.Pool;
let store: PostgresSessionStore;

beforeAll(async () => {
  server = await startPostgres();
  pool = makePool(server.url, 4);
  store = new PostgresSessionStore({ pool, operationTimeoutMs: TIMEOUT });
  await store.migrate();
});

afterAll(async () => {
  server?.resume();
  await store?.close();
  await pool?.end().catch(() => {});
  await server?.stop();
});

/** Runs `op` and asserts it rejects STORAGE (with a cause) within the deadline. */
async function storageWithin(op: () => Promise<unknown>, what: string): Promise<void> {
  const started = Date.now();
  let caught: unknown;
  try {
    await op();
  } catch (error) {
    caught = error;
  }
  const elapsed = Date.now() - started;
  expect(SessionError.isInstance(caught), `${what}: expected a SessionError, got ${String(caught)}`).toBe(true);
  expect((caught as SessionError).code, `${what}: ${(caught as Error).message}`).toBe('STORAGE');
  expect((caught as SessionError).cause, `${what}: cause`).toBeDefined();
  expect(elapsed, `${what} took ${elapsed} ms`).toBeLessThan(TIMEOUT + SLACK);
}

/** Retries `op` until it succeeds (the server is coming back). */
async function eventually<T>(op: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await op();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function everyOperation(existing: SessionRecord & { id: string }): [string, () => Promise<unknown>][] {
  return [
    ['get', () => store.get(existing.id)],
    ['create', () => store.create(record(Date.now()))],
    ['touch', () => store.touch(existing.id)],
    ['extend', () => store.extend(existing.id, 60_000)],
    ['update', () => store.update({ ...existing, metadata: { v: rand() } })],
    ['delete', () => store.delete(`missing-${rand()}`)],
    ['listByUser', () => store.listByUser(existing.userId, existing.tenantId)],
    ['deleteByUser', () => store.deleteByUser(`nobody-${rand()}`, existing.tenantId)],
    ['cleanupExpired', () => store.cleanupExpired()],
  ];
}

describe('a hung server (SIGSTOP)', () => {
  it('every operation rejects STORAGE within operationTimeoutMs, and the same store works after resume', async () => {
    const input = record(Date.now());
    const existing = { ...input, id: await store.create(input) };
    // warm the pool: every connection holds prepared statements
    await Promise.all(Array.from({ length: 8 }, () => store.get(existing.id)));
    server.pause();
    try {
      // more operations at once than the pool has connections, twice: hung connections
      // must be destroyed, not handed to the next caller
      for (let wave = 0; wave < 2; wave++) {
        await Promise.all(everyOperation(existing).map(([name, op]) => storageWithin(op, `${name} (wave ${wave})`)));
      }
      expect(pool.totalCount).toBeLessThanOrEqual(4);
    } finally {
      server.resume();
    }
    await eventually(() => store.get(existing.id));
    // the pool is healthy again: a burst larger than the pool succeeds
    const ids = await Promise.all(Array.from({ length: 20 }, () => store.create(record(Date.now()))));
    for (const id of ids) expect((await store.get(id))?.id).toBe(id);
    await store.touch(existing.id);
  });
});

describe('a killed server (SIGKILL)', () => {
  it('operations reject STORAGE, a create that failed never happens later, and the same store works after restart', async () => {
    const input = record(Date.now());
    const existing = { ...input, id: await store.create(input) };
    await server.kill();
    const lost = `never-${rand()}`;
    try {
      await storageWithin(() => store.create(record(Date.now(), { id: lost })), 'create while down');
      for (const [name, op] of everyOperation(existing)) await storageWithin(op, `${name} while down`);
    } finally {
      await server.restart();
    }
    const got = await eventually(() => store.get(existing.id));
    expect(got?.id).toBe(existing.id);
    expect(await store.get(lost)).toBeNull();
    await store.touch(existing.id);
  });

  it('durability: every acknowledged create survives a SIGKILL of the server', async () => {
    const acknowledged: SessionRecord[] = [];
    const writers = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 25; i++) {
        const input = record(Date.now(), { metadata: { i, blob: 'x'.repeat(500) } });
        const id = await store.create(input);
        acknowledged.push({ ...input, id });
      }
    });
    await Promise.all(writers);
    await server.kill();
    await server.restart();
    const fresh = makePool(server.url, 4);
    try {
      const reader = new PostgresSessionStore({ pool: fresh });
      await eventually(() => reader.get('warm-up'));
      for (const input of acknowledged) {
        const got = await reader.get(input.id);
        expect(got, `session ${input.id}`).not.toBeNull();
        expect(got).toStrictEqual({ ...input, metadata: JSON.parse(JSON.stringify(input.metadata)) });
      }
      expect(acknowledged.length).toBe(400);
    } finally {
      await fresh.end();
    }
    // and the old store recovers too
    await eventually(() => store.get(acknowledged[0]!.id));
  });
});

describe('a lock held on the table (a migration, VACUUM FULL)', () => {
  it('timed-out creates and deletes reject on time, are cancelled on the server, never commit later, and leave no backend busy', async () => {
    const app = `sessionkit_lock_${rand().replace(/-/g, '')}`;
    const max = 4;
    const locked = new pg.Pool({ connectionString: server.url, max, application_name: app });
    locked.on('error', () => {});
    const observer = new pg.Client({ connectionString: server.url, application_name: 'observer' });
    const locker = new pg.Client({ connectionString: server.url, application_name: 'locker' });
    await observer.connect();
    await locker.connect();
    const subject = new PostgresSessionStore({
      pool: locked,
      table: `locked_${rand().replace(/-/g, '')}`,
      operationTimeoutMs: TIMEOUT,
    });
    const qualified = `"${subject.schema}"."${subject.table}"`;
    /** Backends of the store's pool, by state (pg_stat_activity, seen from another connection). */
    const backends = async (state?: string) =>
      (
        await observer.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ($2::text IS NULL OR state = $2)',
          [app, state ?? null],
        )
      ).rows[0]!.n;
    try {
      await subject.migrate();
      const kept = await Promise.all(Array.from({ length: 24 }, () => subject.create(record(Date.now()))));
      const lost: string[] = [];
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${qualified} IN ACCESS EXCLUSIVE MODE`);
      try {
        // three waves of twice as many operations as the pool holds: 24 timed-out statements
        for (let wave = 0; wave < 3; wave++) {
          const ops: Promise<void>[] = [];
          for (let i = 0; i < 4; i++) {
            const id = `lost-${wave}-${i}-${rand()}`;
            lost.push(id);
            ops.push(storageWithin(() => subject.create(record(Date.now(), { id })), `create ${id}`));
            const victim = kept[wave * 8 + i]!;
            ops.push(storageWithin(() => subject.delete(victim), `delete ${victim}`));
          }
          await Promise.all(ops);
        }
        // Still locked: the cancelled backends are gone, not queued behind the lock.
        // (Before: one backend per timed-out statement, all waiting: 24 with a pool of 4.)
        let busy = await backends('active');
        for (const until = Date.now() + 3000; busy > 0 && Date.now() < until; busy = await backends('active')) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(busy, 'backends of the pool still running a statement while the lock is held').toBe(0);
        expect(await backends(), 'backends of the pool, any state').toBeLessThanOrEqual(max);
        const waiting = await observer.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass',
          [qualified],
        );
        expect(waiting.rows[0]!.n, 'lock requests still queued on the table').toBe(0);
      } finally {
        await locker.query('COMMIT');
      }
      // Give anything that might still run after the lock went a moment to commit.
      await new Promise((r) => setTimeout(r, 500));
      const found = await observer.query<{ id: string }>(`SELECT id FROM ${qualified} WHERE id = ANY($1::text[])`, [
        [...lost, ...kept],
      ]);
      const ids = new Set(found.rows.map((r) => r.id));
      expect(
        lost.filter((id) => ids.has(id)),
        'creates that rejected but committed',
      ).toEqual([]);
      expect(
        kept.filter((id) => !ids.has(id)),
        'deletes that rejected but committed',
      ).toEqual([]);
      expect(await backends('active')).toBe(0);
      // and the same store works at once
      const id = await subject.create(record(Date.now()));
      expect((await subject.get(id))?.id).toBe(id);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await subject.close();
      await locked.end().catch(() => {});
      await locker.end().catch(() => {});
      await observer.end().catch(() => {});
    }
  });
});

describe('operations over many pages share one deadline', () => {
  // Every DELETE on the table sleeps 0.3 s (a statement-level trigger): each page alone is
  // well within operationTimeoutMs (2 s), the twenty pages together (6 s and more) are not.
  // Before, each page had its own full timeout, so these calls resolved after 6 s or more.
  const PAGE_SLEEP_S = 0.3;
  const WHOLE = 2000;

  async function slowTable(name: string, rows: (qualified: string) => string) {
    const subject = new PostgresSessionStore({
      pool,
      table: name,
      operationTimeoutMs: WHOLE,
      cleanupBatchSize: 200,
    });
    await subject.migrate();
    const qualified = `"${subject.schema}"."${subject.table}"`;
    await pool.query(rows(qualified));
    await pool.query(`ANALYZE ${qualified}`);
    await pool.query(
      `CREATE FUNCTION "${name}_slow"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${PAGE_SLEEP_S}); RETURN NULL; END $$`,
    );
    await pool.query(
      `CREATE TRIGGER "${name}_slow" BEFORE DELETE ON ${qualified} FOR EACH STATEMENT EXECUTE FUNCTION "${name}_slow"()`,
    );
    const count = async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified}`)).rows[0]!.n;
    const drop = () => pool.query(`DROP TABLE ${qualified}; DROP FUNCTION "${name}_slow"()`).catch(() => {});
    return { subject, count, drop };
  }

  /** Rejects STORAGE within the operation's deadline (plus slack), and nothing is deleted after that. */
  async function boundedAsAWhole(op: () => Promise<unknown>, count: () => Promise<number>, what: string) {
    const started = Date.now();
    const error = await op().then(
      (value) => ({ resolved: value }),
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(SessionError.hasCode(error, 'STORAGE'), `${what}: ${JSON.stringify(error)}`).toBe(true);
    expect(elapsed, `${what} took ${elapsed} ms`).toBeLessThan(WHOLE + SLACK);
    const left = await count();
    expect(left, `${what} stopped before the end`).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3 * PAGE_SLEEP_S * 1000));
    expect(await count(), `${what}: no page ran after the rejection`).toBe(left);
  }

  it('deleteByUser over twenty pages rejects STORAGE within operationTimeoutMs as a whole', async () => {
    const name = `pages_${rand().replace(/-/g, '')}`;
    const now = Date.now();
    const { subject, count, drop } = await slowTable(
      name,
      (t) =>
        `INSERT INTO ${t} (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record)
         SELECT 'big-' || g, 'tenant', 'big', ${now}, ${now + 3_600_000} + g, ${now}, '{}' FROM generate_series(1, 20000) AS g`,
    );
    try {
      await boundedAsAWhole(() => subject.deleteByUser('big', tenantId('tenant')), count, 'deleteByUser');
    } finally {
      await subject.close();
      await drop();
    }
  });

  it('cleanupExpired over twenty batches rejects STORAGE within operationTimeoutMs as a whole', async () => {
    const name = `batches_${rand().replace(/-/g, '')}`;
    const now = Date.now();
    const { subject, count, drop } = await slowTable(
      name,
      (t) =>
        `INSERT INTO ${t} (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record)
         SELECT 'old-' || g, 'tenant', 'u' || g, ${now - 7_200_000}, ${now - 3_600_000}, ${now - 7_200_000}, '{}' FROM generate_series(1, 4000) AS g`,
    );
    try {
      await boundedAsAWhole(() => subject.cleanupExpired(), count, 'cleanupExpired');
    } finally {
      await subject.close();
      await drop();
    }
  });
});
