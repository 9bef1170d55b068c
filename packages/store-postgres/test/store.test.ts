import { encodeRecord, SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrationSql, PostgresSessionStore, type PostgresSessionStoreOptions } from '../src/index.js';
import { statements } from '../src/sql.js';
import { database, HOUR, makePool, manualClock, rand, record, uniqueName } from './helpers.js';

let db: Awaited<ReturnType<typeof database>>;
let pool: pg.Pool;
const schema = uniqueName('store');
let n = 0;
const opened: PostgresSessionStore[] = [];

beforeAll(async () => {
  db = await database();
  pool = makePool(db.url);
  await pool.query(`CREATE SCHEMA "${schema}"`);
});

afterAll(async () => {
  for (const store of opened) await store.close();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool?.end();
  await db?.stop();
});

async function open(options: Partial<PostgresSessionStoreOptions> = {}): Promise<PostgresSessionStore> {
  const store = new PostgresSessionStore({ pool, schema, table: `s${n++}`, ...options });
  opened.push(store);
  await store.migrate();
  return store;
}

async function rejection(promise: Promise<unknown>): Promise<SessionError> {
  try {
    await promise;
  } catch (error) {
    expect(SessionError.isInstance(error), String(error)).toBe(true);
    return error as SessionError;
  }
  throw new Error('expected a rejection');
}

async function rowCount(store: PostgresSessionStore): Promise<number> {
  const result = await pool.query(`SELECT count(*)::int AS n FROM "${store.schema}"."${store.table}"`);
  return result.rows[0].n;
}

/** A pool whose clients record every query config they run (a real pool underneath). */
function spyPool(real: pg.Pool): { pool: pg.Pool; log: pg.QueryConfig[] } {
  const log: pg.QueryConfig[] = [];
  const patched = new WeakSet<object>();
  const patch = (client: pg.PoolClient) => {
    if (patched.has(client)) return client;
    patched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
      log.push(typeof config === 'string' ? { text: config } : (config as pg.QueryConfig));
      return query(config, ...rest);
    };
    return client;
  };
  const proxy = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'connect') {
        return (callback?: (err: Error | undefined, client?: pg.PoolClient, done?: unknown) => void) => {
          if (callback) {
            target.connect((err, client, done) => callback(err, client && patch(client), done));
            return undefined;
          }
          return target.connect().then(patch);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { pool: proxy, log };
}

describe('options', () => {
  const base = () => ({ pool: makeFakePool() });
  function makeFakePool(): pg.Pool {
    return {
      connect: () => Promise.reject(new Error('unused')),
      query: () => Promise.reject(new Error('unused')),
    } as unknown as pg.Pool;
  }
  function invalid(options: unknown, field: string) {
    let caught: unknown;
    try {
      new PostgresSessionStore(options as PostgresSessionStoreOptions);
    } catch (error) {
      caught = error;
    }
    expect(SessionError.isInstance(caught), `expected INVALID for ${field}`).toBe(true);
    expect((caught as SessionError).code).toBe('INVALID');
    expect((caught as SessionError).message).toContain(field);
    expect((caught as SessionError).message).toMatch(/^\[sessionkit\/postgres\]/);
  }

  it('rejects a missing or wrong pool and non-object options', () => {
    invalid(undefined, 'options');
    invalid({}, 'pool');
    invalid({ pool: 'postgres://x' }, 'pool');
    invalid({ pool: {} }, 'pool');
  });

  it('rejects a pg.Client (or a checked-out client) passed as pool, saying to pass a pg.Pool', async () => {
    const client = new pg.Client({ connectionString: db.url });
    let caught: unknown;
    try {
      new PostgresSessionStore({ pool: client as unknown as pg.Pool });
    } catch (error) {
      caught = error;
    }
    expect(SessionError.isInstance(caught)).toBe(true);
    expect((caught as SessionError).code).toBe('INVALID');
    expect((caught as SessionError).field).toBe('pool');
    expect((caught as SessionError).message).toMatch(/pg\.Client/);
    expect((caught as SessionError).message).toMatch(/new pg\.Pool/);
    const checkedOut = await pool.connect();
    try {
      invalid({ pool: checkedOut }, 'pool');
    } finally {
      checkedOut.release();
    }
  });

  it('rejects schema and table names that are not plain identifiers', () => {
    for (const bad of ['', 'a-b', 'a b', 'a"b', 'a;drop table x', '1abc', 'x'.repeat(64), 'ünï', 'a.b', 5, null]) {
      invalid({ ...base(), schema: bad }, 'schema');
      invalid({ ...base(), table: bad }, 'table');
      expect(() => migrationSql({ table: bad as string })).toThrow(/table/);
    }
  });

  it('rejects bad numeric options, naming them', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '10']) {
      invalid({ ...base(), cleanupBatchSize: bad }, 'cleanupBatchSize');
      invalid({ ...base(), operationTimeoutMs: bad }, 'operationTimeoutMs');
      invalid({ ...base(), cleanupIntervalMs: bad }, 'cleanupIntervalMs');
    }
    for (const bad of [0, -1, 1.5, Number.NaN, '10', 1_000_001]) {
      invalid({ ...base(), maxSessionsPerUser: bad }, 'maxSessionsPerUser');
    }
    invalid({ ...base(), onError: 'log' }, 'onError');
    invalid({ ...base(), maxRecordBytes: 10 }, 'maxRecordBytes');
    invalid({ ...base(), maxLifetimeMs: -5 }, 'maxLifetimeMs');
    invalid({ ...base(), clock: 5 }, 'clock');
  });

  it('accepts quoted-only names (mixed case, reserved words, $) and uses them quoted', async () => {
    const weird = uniqueName('My$Schema');
    const store = new PostgresSessionStore({ pool, schema: weird, table: 'Select' });
    opened.push(store);
    await store.migrate();
    const id = await store.create(record(Date.now()));
    expect((await store.get(id))?.id).toBe(id);
    const found = await pool.query(
      'SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1 AND tablename = $2',
      [weird, 'Select'],
    );
    expect(found.rows[0].n).toBe(1);
    await pool.query(`DROP SCHEMA "${weird}" CASCADE`);
  });
});

describe('migrate and the exported SQL', () => {
  it('is idempotent and safe when many callers run it at once', async () => {
    const target = uniqueName('mig');
    const stores = Array.from(
      { length: 8 },
      () => new PostgresSessionStore({ pool, schema: target, table: 'sessions' }),
    );
    await Promise.all(stores.map((s) => s.migrate()));
    await Promise.all(stores.map((s) => s.migrate()));
    const id = await stores[0]!.create(record(Date.now()));
    await stores[1]!.migrate();
    expect((await stores[2]!.get(id))?.id).toBe(id);
    await pool.query(`DROP SCHEMA "${target}" CASCADE`);
  });

  it('creates the primary key, a (tenant, user, expires_at) index and an expiry index, and none on last_activity_at', async () => {
    const store = await open();
    const indexes = await pool.query(
      `SELECT i.relname AS name, ix.indisprimary AS primary, array_agg(a.attname ORDER BY k.ord)::text[] AS columns
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
         JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
        WHERE ix.indrelid = $1::regclass
        GROUP BY i.relname, ix.indisprimary`,
      [`"${store.schema}"."${store.table}"`],
    );
    const columns = indexes.rows.map((r) => (r.columns as string[]).join(',')).sort();
    expect(columns).toEqual(['expires_at', 'id', 'tenant_id,user_id,expires_at']);
    expect(indexes.rows.find((r) => r.primary)?.columns).toEqual(['id']);
    expect(columns.join(' ')).not.toContain('last_activity_at');
  });

  it('exports the same DDL it runs, with every identifier quoted', async () => {
    const target = uniqueName('own');
    const sql = migrationSql({ schema: target, table: 'Own' });
    expect(sql).toContain(`CREATE SCHEMA IF NOT EXISTS "${target}"`);
    expect(sql).toContain(`CREATE TABLE IF NOT EXISTS "${target}"."Own"`);
    expect(sql).not.toMatch(/last_activity_at\)/);
    await pool.query(sql); // people who run their own migrations: the text runs as is, twice
    await pool.query(sql);
    const store = new PostgresSessionStore({ pool, schema: target, table: 'Own' });
    const id = await store.create(record(Date.now()));
    expect((await store.get(id))?.id).toBe(id);
    expect(migrationSql()).toContain('CREATE TABLE IF NOT EXISTS "public"."sessionkit_sessions"');
    expect(migrationSql()).not.toContain('CREATE SCHEMA');
    await pool.query(`DROP SCHEMA "${target}" CASCADE`);
  });

  it('rejects INVALID, naming each difference, when the table exists with another layout', async () => {
    const target = uniqueName('layout');
    await pool.query(`CREATE SCHEMA "${target}"`);
    // connect-pg-simple's table, under the name the store was told to use
    await pool.query(
      `CREATE TABLE "${target}"."peer" (sid varchar NOT NULL PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`,
    );
    let error = await rejection(new PostgresSessionStore({ pool, schema: target, table: 'peer' }).migrate());
    expect(error.code).toBe('INVALID');
    expect(error.field).toBe('table');
    expect(error.message).toContain(`"${target}"."peer" already exists`);
    expect(error.message).toContain('column record is missing');
    expect(error.message).toContain('column sid is NOT NULL without a default');
    // ours, but with timestamptz times and no key on id
    const sql = migrationSql({ schema: target, table: 'old' })
      .replace(/expires_at bigint/, 'expires_at timestamptz')
      .replace(/,\s*CONSTRAINT "[^"]+" PRIMARY KEY \(id\)/, '');
    await pool.query(sql);
    error = await rejection(new PostgresSessionStore({ pool, schema: target, table: 'old' }).migrate());
    expect(error.message).toContain('column expires_at is timestamp with time zone, not bigint');
    expect(error.message).toContain('id has no primary key or unique index of its own');
    expect(error.message).not.toContain('column record');
    // a view is not a table
    await pool.query(`CREATE VIEW "${target}"."v" AS SELECT 1 AS id`);
    error = await rejection(new PostgresSessionStore({ pool, schema: target, table: 'v' }).migrate());
    expect(error.message).toContain('it is not a table');
    await pool.query(`DROP SCHEMA "${target}" CASCADE`);
  });

  it('accepts a table with extra columns that inserts can leave out', async () => {
    const target = uniqueName('extra');
    await pool.query(migrationSql({ schema: target, table: 't' }));
    await pool.query(
      `ALTER TABLE "${target}"."t" ADD COLUMN note text, ADD COLUMN seen boolean NOT NULL DEFAULT false`,
    );
    const store = new PostgresSessionStore({ pool, schema: target, table: 't' });
    await store.migrate();
    const id = await store.create(record(Date.now()));
    expect((await store.get(id))?.id).toBe(id);
    await pool.query(`DROP SCHEMA "${target}" CASCADE`);
  });

  it('without migrate(), operations reject STORAGE saying to run migrate(), with the PostgreSQL error as cause', async () => {
    const table = `missing_${rand().replace(/-/g, '')}`;
    for (const store of [
      new PostgresSessionStore({ pool, schema, table }),
      new PostgresSessionStore({ pool, schema: uniqueName('noschema'), table }),
    ]) {
      for (const op of [() => store.get('x'), () => store.create(record(Date.now())), () => store.cleanupExpired()]) {
        const error = await rejection(op());
        expect(error.code).toBe('STORAGE');
        expect(error.message).toContain(`table "${store.schema}"."${table}" does not exist`);
        expect(error.message).toContain('run await store.migrate()');
        expect((error.cause as { code?: string }).code).toMatch(/^(42P01|3F000)$/);
      }
    }
  });
});

describe('statements', () => {
  it('runs one named statement per operation in the normal path, with the time as a parameter', async () => {
    const spy = spyPool(pool);
    const clock = manualClock();
    const table = `s${n++}`;
    const store = new PostgresSessionStore({ pool: spy.pool, schema, table, clock: clock.now });
    await store.migrate();
    const input = record(clock.now());
    const count = async (fn: () => Promise<unknown>) => {
      spy.log.length = 0;
      await fn();
      for (const q of spy.log) {
        expect(q.name, q.text).toBeTruthy();
        expect(q.text.toLowerCase()).not.toMatch(/now\(\)|current_timestamp|clock_timestamp/);
      }
      return spy.log.length;
    };
    let id = '';
    expect(await count(async () => (id = await store.create(input)))).toBe(1);
    expect(await count(() => store.get(id))).toBe(1);
    expect(await count(() => store.touch(id))).toBe(1);
    expect(await count(() => store.extend(id, HOUR))).toBe(1);
    expect(await count(() => store.update({ ...input, id, metadata: { v: 2 } }))).toBe(1);
    expect(await count(() => store.listByUser(input.userId, input.tenantId))).toBe(1);
    /** Runs `fn`, which must reject with `code`. */
    const rejects = (fn: () => Promise<unknown>, code: string) => async () => {
      expect((await rejection(fn())).code).toBe(code);
    };
    expect(await count(rejects(() => store.create({ ...input, id }), 'CONFLICT'))).toBe(1); // from the INSERT alone
    expect(await count(() => store.delete(id))).toBe(1);
    // error paths may take a second statement, never more
    expect(await count(rejects(() => store.touch(id), 'NOT_FOUND'))).toBe(2);
    const short = await store.create(record(clock.now(), { expiresAt: new Date(clock.now() + 1000) }));
    clock.advance(1000);
    expect(await count(rejects(() => store.extend(short, HOUR), 'EXPIRED'))).toBe(2);
    expect(await count(() => store.deleteByUser(input.userId, input.tenantId))).toBe(1);
    // ids that can name no session never reach the server
    expect(await count(() => store.get('a\u0000b'))).toBe(0);
    expect(await count(() => store.delete(''))).toBe(0);
    await pool.query(`DROP TABLE "${schema}"."${table}"`);
  });

  it('works with a pool-like object whose connect() only returns a promise', async () => {
    const promiseOnly = {
      connect: () => pool.connect(),
      query: (...args: unknown[]) => (pool.query as (...a: unknown[]) => unknown)(...args),
    } as unknown as pg.Pool;
    const store = new PostgresSessionStore({ pool: promiseOnly, schema, table: `s${n++}` });
    await store.migrate();
    const id = await store.create(record(Date.now()));
    await store.touch(id);
    expect((await store.get(id))?.id).toBe(id);
    expect(await store.cleanupExpired()).toBe(0);
  });

  it('two stores on one pool with different tables never mix up their prepared statements', async () => {
    const a = await open();
    const b = await open({ cleanupBatchSize: 7 });
    const now = Date.now();
    const inA = await a.create(record(now));
    const inB = await b.create(record(now));
    for (let i = 0; i < 20; i++) {
      expect((await a.get(inA))?.id).toBe(inA);
      expect(await a.get(inB)).toBeNull();
      expect((await b.get(inB))?.id).toBe(inB);
      expect(await b.get(inA)).toBeNull();
    }
  });
});

describe('time comes from the store clock, not the server', () => {
  it('works with a clock far from the server time, and expiry follows that clock', async () => {
    const future = manualClock(Date.UTC(2090, 0, 1));
    const store = await open({ clock: future.now });
    const input = record(future.now(), { expiresAt: new Date(future.now() + 10_000) });
    const id = await store.create(input);
    expect((await store.get(id))?.expiresAt.getTime()).toBe(future.now() + 10_000);
    future.advance(9_999);
    await store.touch(id);
    expect((await store.get(id))?.lastActivityAt.getTime()).toBe(future.now());
    future.advance(1);
    expect((await rejection(store.get(id))).code).toBe('EXPIRED');
    // A store on the same table whose clock says 1990 sees the session as live.
    const past = new PostgresSessionStore({
      pool,
      schema: store.schema,
      table: store.table,
      clock: () => Date.UTC(1990, 0, 1),
    });
    expect((await past.get(id))?.id).toBe(id);
    expect(await past.cleanupExpired()).toBe(0);
    expect(await store.cleanupExpired()).toBe(1);
  });

  it('a fractional clock is fine (compared as whole milliseconds)', async () => {
    let t = Math.floor(Date.now()) + 0.75;
    const store = await open({ clock: () => t });
    const id = await store.create(record(Math.floor(t), { expiresAt: new Date(Math.floor(t) + 5) }));
    await store.touch(id);
    t += 4;
    await store.extend(id, 1);
    t += 1;
    expect((await rejection(store.touch(id))).code).toBe('EXPIRED');
  });

  it('extend never writes an expiry past the latest valid Date', async () => {
    const store = await open();
    const id = await store.create(record(Date.now()));
    await store.extend(id, 8.64e15);
    const got = await store.get(id);
    expect(got?.expiresAt.getTime()).toBe(8.64e15);
  });
});

describe('round trips', () => {
  it('metadata of any JSON (U+0000, lone surrogates, any unicode) reads back exactly', async () => {
    const store = await open();
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }), async (metadata) => {
        const input = record(Date.now(), { metadata: metadata as SessionRecord['metadata'] });
        const id = await store.create(input);
        const got = await store.get(id);
        expect(got?.metadata).toStrictEqual(JSON.parse(JSON.stringify(metadata)));
      }),
      { numRuns: 60 },
    );
  });

  it('tenant and user ids that collide as text prefixes or under case/normalisation stay apart', async () => {
    const store = await open();
    const idChar = fc.constantFrom(
      'a',
      'A',
      ':',
      '|',
      '{',
      '}',
      '%',
      '/',
      ' ',
      'é',
      'e\u0301',
      '😀',
      '\\',
      "'",
      '"',
      '_',
      '\u00a0',
    );
    const ident = fc.array(idChar, { minLength: 1, maxLength: 5 }).map((chars) => chars.join(''));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(ident, ident), { minLength: 2, maxLength: 6, selector: ([t, u]) => `${t}\u0000${u}` }),
        async (pairs) => {
          const salt = rand();
          const made = new Map<string, string>();
          for (const [t, u] of pairs) {
            made.set(
              `${t}\u0000${u}`,
              await store.create(record(Date.now(), { tenantId: tenantId(`${salt}${t}`), userId: u })),
            );
          }
          for (const [t, u] of pairs) {
            const listed = await store.listByUser(u, tenantId(`${salt}${t}`));
            expect(listed.map((r) => r.id)).toEqual([made.get(`${t}\u0000${u}`)]);
          }
          const [t0, u0] = pairs[0]!;
          expect(await store.deleteByUser(u0, tenantId(`${salt}${t0}`))).toBe(1);
          for (const [t, u] of pairs.slice(1)) {
            expect((await store.listByUser(u, tenantId(`${salt}${t}`))).length).toBe(1);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a corrupt stored record is STORAGE, never a half-valid record', async () => {
    const store = await open();
    const id = await store.create(record(Date.now()));
    await pool.query(`UPDATE "${store.schema}"."${store.table}" SET record = '{not json' WHERE id = $1`, [id]);
    const error = await rejection(store.get(id));
    expect(error.code).toBe('STORAGE');
  });
});

describe('races', () => {
  it('concurrent creates of one id: exactly one wins, the others are CONFLICT', async () => {
    const store = await open();
    for (let round = 0; round < 5; round++) {
      const id = `same-${rand()}`;
      const results = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => store.create(record(Date.now(), { id, metadata: { i } }))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won.length).toBe(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as SessionError).code).toBe('CONFLICT');
      }
    }
  });

  it('no resurrection: touch, extend and update racing a delete never bring the session back', async () => {
    const store = await open();
    for (let round = 0; round < 8; round++) {
      const input = record(Date.now());
      const id = await store.create(input);
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        ops.push(store.touch(id), store.extend(id, HOUR), store.update({ ...input, id, metadata: { i } }));
        if (i === 4) ops.push(store.delete(id));
      }
      const settled = await Promise.allSettled(ops);
      for (const s of settled) {
        if (s.status === 'rejected') expect((s.reason as SessionError).code).toBe('NOT_FOUND');
      }
      expect(await store.get(id)).toBeNull();
      expect(await store.listByUser(input.userId, input.tenantId)).toEqual([]);
    }
    expect(await rowCount(store)).toBe(0);
  });

  it('deleteByUser racing creates and mutations: mutations fail only NOT_FOUND, the count matches, and listByUser returns exactly the survivors', async () => {
    const store = await open();
    for (let round = 0; round < 6; round++) {
      const base = record(Date.now());
      const before = await Promise.all(Array.from({ length: 10 }, () => store.create({ ...base })));
      const created: Promise<string>[] = [];
      let removed = -1;
      // Every call is a thunk, started in one synchronous loop in an order rotated each
      // round, so deleteByUser lands before, among and after the others.
      const thunks: (() => Promise<unknown>)[] = [
        ...before.flatMap((id) => [
          () => store.touch(id),
          () => store.extend(id, HOUR),
          () => store.update({ ...base, id, metadata: { round } }),
        ]),
        ...Array.from({ length: 6 }, () => () => {
          const p = store.create({ ...base });
          created.push(p);
          return p;
        }),
      ];
      thunks.splice((round * 7) % (thunks.length + 1), 0, async () => {
        removed = await store.deleteByUser(base.userId, base.tenantId);
      });
      const settled = await Promise.allSettled(thunks.map((start) => start()));
      for (const s of settled) {
        if (s.status === 'rejected') {
          expect(SessionError.isInstance(s.reason), String(s.reason)).toBe(true);
          expect((s.reason as SessionError).code, (s.reason as Error).message).toBe('NOT_FOUND');
        }
      }
      for (const id of before) expect(await store.get(id)).toBeNull();
      const after = await Promise.all(created); // creates never fail here
      const survivors = [];
      for (const id of after) if ((await store.get(id)) !== null) survivors.push(id);
      // deleteByUser counted the ten and every new session it removed, nothing else
      expect(removed).toBe(10 + after.length - survivors.length);
      expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual(survivors.sort());
    }
  });

  it('concurrent creates and deletes for one user: listByUser returns exactly the live ones', async () => {
    const store = await open();
    const base = record(Date.now());
    const ids = await Promise.all(Array.from({ length: 40 }, () => store.create({ ...base })));
    const doomed = ids.filter((_, i) => i % 3 === 0);
    const extra: Promise<string>[] = [];
    await Promise.all([
      ...doomed.map((id) => store.delete(id)),
      ...Array.from({ length: 20 }, () => {
        const p = store.create({ ...base });
        extra.push(p);
        return p;
      }),
    ]);
    const live = [...ids.filter((id) => !doomed.includes(id)), ...(await Promise.all(extra))].sort();
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual(live);
  });
});

describe('cleanup', () => {
  it('works in bounded batches until done and returns the total', async () => {
    const spy = spyPool(pool);
    const clock = manualClock();
    const table = `s${n++}`;
    const store = new PostgresSessionStore({ pool: spy.pool, schema, table, clock: clock.now, cleanupBatchSize: 10 });
    await store.migrate();
    await insertMany(store, 95, clock.now(), clock.now() + 1000);
    const live = await store.create(record(clock.now()));
    clock.advance(1000);
    spy.log.length = 0;
    expect(await store.cleanupExpired()).toBe(95);
    expect(spy.log.length).toBe(10); // 9 full batches and a short one
    for (const q of spy.log) expect(q.text).toContain('LIMIT 10 FOR UPDATE SKIP LOCKED');
    expect(await rowCount(store)).toBe(1);
    expect((await store.get(live))?.id).toBe(live);
    await pool.query(`DROP TABLE "${schema}"."${table}"`);
  });

  it('many stores cleaning one table at once count every row exactly once', async () => {
    const clock = manualClock();
    const first = await open({ clock: clock.now });
    const others = [3, 7, 50, 2000].map(
      (cleanupBatchSize) =>
        new PostgresSessionStore({ pool, schema, table: first.table, clock: clock.now, cleanupBatchSize }),
    );
    for (let round = 0; round < 3; round++) {
      await insertMany(first, 600, clock.now(), clock.now() + 1000);
      const live = await first.create(record(clock.now(), { expiresAt: new Date(clock.now() + HOUR) }));
      clock.advance(1000);
      const counts = await Promise.all([first, ...others, ...others].map((s) => s.cleanupExpired()));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(600);
      expect((await first.get(live))?.id).toBe(live);
      await first.delete(live);
      expect(await rowCount(first)).toBe(0);
    }
  });

  it("cleanupIntervalMs runs cleanup on an unref'd timer that close() stops", async () => {
    const clock = manualClock();
    const spy = spyPool(pool);
    // Ref'd timers only: an unref'd one keeps nothing alive and is not listed.
    const refdTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = refdTimers();
    const store = new PostgresSessionStore({
      pool: spy.pool,
      schema,
      table: `s${n++}`,
      clock: clock.now,
      cleanupIntervalMs: 30,
      onError: () => {}, // a run before migrate() below fails: expected here
    });
    expect(refdTimers()).toBe(before);
    opened.push(store);
    await store.migrate();
    await insertMany(store, 25, clock.now(), clock.now() + 1000);
    clock.advance(1000);
    const deadline = Date.now() + 10_000;
    while ((await rowCount(store)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await rowCount(store)).toBe(0);
    await store.close();
    await insertMany(store, 5, clock.now(), clock.now() + 1000);
    clock.advance(1000);
    spy.log.length = 0;
    await new Promise((r) => setTimeout(r, 200));
    expect(spy.log.length).toBe(0);
    expect(await rowCount(store)).toBe(5);
  });
});

describe('HOT updates', () => {
  it('touch is a heap-only-tuple update (no index covers last_activity_at)', async () => {
    const single = makePool(db.url, 1);
    try {
      const store = new PostgresSessionStore({ pool: single, schema, table: `s${n++}` });
      await store.migrate();
      const id = await store.create(record(Date.now()));
      for (let i = 0; i < 40; i++) await store.touch(id);
      await single.query('SELECT pg_stat_force_next_flush()');
      await single.query('SELECT 1');
      const stats = await single.query(
        'SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relid = $1::regclass',
        [`"${store.schema}"."${store.table}"`],
      );
      expect(stats.rows[0].upd).toBe(40);
      expect(stats.rows[0].hot).toBeGreaterThanOrEqual(36);
    } finally {
      await single.end();
    }
  });
});

describe('maxSessionsPerUser', () => {
  const ids = (records: SessionRecord[]) => records.map((r) => r.id).sort();

  it('a create past the bound removes the sessions that expire soonest (then oldest, then smallest id), never the new one', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now, maxSessionsPerUser: 3 });
    const t = clock.now();
    const base = record(t);
    const at = (id: string, createdAt: number, expiresIn: number) =>
      store.create({ ...base, id, createdAt: new Date(createdAt), expiresAt: new Date(t + expiresIn) });
    await at('late', t, 5 * HOUR);
    await at('b-tie', t - 10, 2 * HOUR);
    await at('a-tie', t - 10, 2 * HOUR); // same expiry and createdAt as b-tie: the smaller id goes first
    // the fourth: a-tie goes (soonest expiry, then smallest id among the equal createdAt)
    await at('new-1', t, 3 * HOUR);
    expect(ids(await store.listByUser(base.userId, base.tenantId))).toEqual(['b-tie', 'late', 'new-1']);
    expect(await store.get('a-tie')).toBeNull();
    // the new session expires soonest of all: it is still never the one removed
    await at('new-2', t, HOUR);
    expect(ids(await store.listByUser(base.userId, base.tenantId))).toEqual(['late', 'new-1', 'new-2']);
    // an earlier createdAt breaks an expiry tie before the id does
    await at('z-old', t - 50, 30 * HOUR);
    await at('y-young', t - 40, 30 * HOUR);
    expect(ids(await store.listByUser(base.userId, base.tenantId))).toEqual(['late', 'y-young', 'z-old']);
    await at('x-4', t, 30 * HOUR);
    expect(ids(await store.listByUser(base.userId, base.tenantId))).toEqual(['x-4', 'y-young', 'z-old']);
    await at('x-5', t, 40 * HOUR);
    expect(ids(await store.listByUser(base.userId, base.tenantId))).toEqual(['x-4', 'x-5', 'y-young']);
    expect(await rowCount(store)).toBe(3);
  });

  it('expired sessions not yet cleaned up count and go first; other users and tenants are untouched', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now, maxSessionsPerUser: 2 });
    const base = record(clock.now());
    const short = await store.create({ ...base, expiresAt: new Date(clock.now() + 1000) });
    const long = await store.create({ ...base, expiresAt: new Date(clock.now() + 10 * HOUR) });
    const otherTenant = await store.create({ ...base, tenantId: tenantId(`${base.tenantId}x`) });
    const otherUser = await store.create({ ...base, userId: `${base.userId}x` });
    clock.advance(2000);
    const fresh = await store.create(record(clock.now(), { userId: base.userId, tenantId: base.tenantId }));
    expect(await store.get(short)).toBeNull(); // gone, not EXPIRED
    expect((await store.listByUser(base.userId, base.tenantId)).map((r) => r.id).sort()).toEqual([fresh, long].sort());
    expect((await store.get(otherTenant))?.id).toBe(otherTenant);
    expect((await store.get(otherUser))?.id).toBe(otherUser);
  });

  it('concurrent creates for one user through one store leave exactly the bound', async () => {
    const store = await open({ maxSessionsPerUser: 3 });
    for (let round = 0; round < 3; round++) {
      const base = record(Date.now());
      const created = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.create({ ...base, expiresAt: new Date(Date.now() + HOUR + i) })),
      );
      const listed = (await store.listByUser(base.userId, base.tenantId)).map((r) => r.id);
      expect(listed.length).toBe(3);
      for (const id of listed) expect(created).toContain(id);
    }
  });

  it('concurrent creates for one user at the bound through two stores (two pools) leave the bound or one over it, never fewer', async () => {
    const store = await open({ maxSessionsPerUser: 3 });
    const otherPool = makePool(db.url);
    try {
      const other = new PostgresSessionStore({ pool: otherPool, schema, table: store.table, maxSessionsPerUser: 3 });
      for (let round = 0; round < 5; round++) {
        const base = record(Date.now());
        const at = (i: number) => ({ ...base, expiresAt: new Date(Date.now() + HOUR + i) });
        for (let i = 0; i < 3; i++) await store.create(at(i)); // at the bound
        // each store runs its own creates one after the other; the two stores race
        const created = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).create(at(10 + i))),
        );
        expect(new Set(created).size).toBe(20);
        const listed = (await store.listByUser(base.userId, base.tenantId)).map((r) => r.id);
        expect(listed.length).toBeGreaterThanOrEqual(3);
        expect(listed.length).toBeLessThanOrEqual(4);
        for (const id of listed) expect(created).toContain(id);
      }
    } finally {
      await otherPool.end();
    }
  });

  it('a create that is a CONFLICT removes nothing', async () => {
    const store = await open({ maxSessionsPerUser: 2 });
    const base = record(Date.now());
    const first = await store.create({ ...base, id: `c-${rand()}` });
    const second = await store.create({ ...base, id: `c-${rand()}` });
    expect((await rejection(store.create({ ...base, id: first }))).code).toBe('CONFLICT');
    expect((await rejection(store.create({ ...base, id: second }))).code).toBe('CONFLICT');
    expect((await store.listByUser(base.userId, base.tenantId)).length).toBe(2);
  });

  it('defaults to 1000, and a user far past a lowered bound comes back to it', async () => {
    const store = await open();
    const base = record(Date.now());
    await insertForUser(store, base, 1000);
    await store.create({ ...base });
    expect(await rowCount(store)).toBe(1000);
    // the same table through a store with a bound of 10: one create brings the user to 10
    const strict = new PostgresSessionStore({ pool, schema, table: store.table, maxSessionsPerUser: 10 });
    const id = await strict.create({ ...base });
    expect(await rowCount(store)).toBe(10);
    expect((await strict.get(id))?.id).toBe(id);
  });
});

describe('the create statement plan', () => {
  /** A plan node of EXPLAIN (FORMAT JSON), as far as these tests read it. */
  interface PlanNode {
    'Node Type': string;
    Operation?: string;
    'Shared Hit Blocks': number;
    'Shared Read Blocks': number;
    Plans?: PlanNode[];
  }
  const find = (node: PlanNode, match: (n: PlanNode) => boolean): PlanNode | undefined =>
    match(node) ? node : node.Plans?.map((child) => find(child, match)).find((n) => n !== undefined);

  it('below maxSessionsPerUser runs nothing of the eviction but the count; at it, the victim goes by primary key without reading the user’s other rows', async () => {
    const store = await open();
    const table = `"${store.schema}"."${store.table}"`;
    const now = Date.now();
    const body = 'x'.repeat(1200); // about a real record's size, so a page holds a few rows
    // 2,000 users of 3 sessions and one user at the bound (1000): statistics that say "a user
    // has few sessions", as in a real table, which once made the DELETE read all 1000 rows
    await pool.query(
      `INSERT INTO ${table} SELECT 'u' || g || '-' || k, 'acme', 'user-' || g, $1::bigint, $1::bigint + 3600000 + k, $1::bigint, $2
         FROM generate_series(1, 2000) g, generate_series(1, 3) k`,
      [now, body],
    );
    await pool.query(
      `INSERT INTO ${table} SELECT 'full-' || k, 'acme', 'full', $1::bigint, $1::bigint + 3600000 + k, $1::bigint, $2
         FROM generate_series(1, 1000) k`,
      [now, body],
    );
    await pool.query(`VACUUM ANALYZE ${table}`);
    const client = await pool.connect();
    try {
      await client.query(`PREPARE sk_create AS ${statements(table, 1).create.text}`);
      /** Buffers the statement's DELETE touched for a create of `user` (rolled back). */
      const deleteBuffers = async (user: string, planCacheMode: string): Promise<number> => {
        const lit = (v: string | number) => client.escapeLiteral(String(v));
        const args = [`new-${rand()}`, 'acme', user, now, now + HOUR, now, body].map(lit).join(', ');
        await client.query(`BEGIN; SET LOCAL plan_cache_mode = ${planCacheMode}`);
        try {
          const result = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE sk_create(${args}, 1000)`);
          const plan = result.rows[0]['QUERY PLAN'][0].Plan as PlanNode;
          const remove = find(plan, (n) => n['Node Type'] === 'ModifyTable' && n.Operation === 'Delete');
          expect(remove, JSON.stringify(plan)).toBeDefined();
          return remove!['Shared Hit Blocks'] + remove!['Shared Read Blocks'];
        } finally {
          await client.query('ROLLBACK');
        }
      };
      // generic: what a pooled connection runs after its first five executions; custom: before
      for (const mode of ['force_generic_plan', 'force_custom_plan']) {
        // the count of 3 index entries and nothing more (the statement before this one: 10)
        expect(await deleteBuffers('user-7', mode)).toBeLessThanOrEqual(8);
        // the count of 1000 index entries, the first victim and its deletion (before: 233)
        expect(await deleteBuffers('full', mode)).toBeLessThanOrEqual(60);
      }
    } finally {
      await client.query('DEALLOCATE sk_create').catch(() => {});
      client.release();
    }
  });
});

describe('per-user work is paged', () => {
  it('listByUser and deleteByUser of a user with 2,500 sessions run statements over at most 1,000 of them', async () => {
    const spy = spyPool(pool);
    const clock = manualClock();
    const table = `s${n++}`;
    const store = new PostgresSessionStore({
      pool: spy.pool,
      schema,
      table,
      clock: clock.now,
      maxSessionsPerUser: 5000,
    });
    opened.push(store);
    await store.migrate();
    const base = record(clock.now());
    await insertForUser(store, base, 2500);
    const other = await store.create(record(clock.now()));
    spy.log.length = 0;
    const listed = await store.listByUser(base.userId, base.tenantId);
    expect(listed.length).toBe(2500);
    expect(new Set(listed.map((r) => r.id)).size).toBe(2500);
    for (let i = 1; i < listed.length; i++) {
      const a = listed[i - 1]!;
      const b = listed[i]!;
      expect(
        a.createdAt.getTime() < b.createdAt.getTime() ||
          (a.createdAt.getTime() === b.createdAt.getTime() && a.id < b.id),
      ).toBe(true);
    }
    const pages = spy.log.filter((q) => q.name !== undefined);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const q of pages) expect(q.text).toContain('LIMIT 1000');
    // 500 of them expired: deleteByUser removes all 2,500 and counts the 2,000 live ones
    await pool.query(
      `UPDATE "${schema}"."${table}" SET expires_at = $1 WHERE user_id = $2 AND (id LIKE '%0' OR id LIKE '%5')`,
      [clock.now() - 1, base.userId],
    );
    spy.log.length = 0;
    expect(await store.deleteByUser(base.userId, base.tenantId)).toBe(2000);
    expect(spy.log.length).toBeGreaterThanOrEqual(3);
    for (const q of spy.log) expect(q.text).toContain('LIMIT 1000');
    expect(await rowCount(store)).toBe(1);
    expect((await store.get(other))?.id).toBe(other);
  });
});

describe('per-user paging with equal expiries', () => {
  it('pages break ties by id: 2,500 sessions expiring at the same moment are each listed once', async () => {
    const store = await open({ maxSessionsPerUser: 5000 });
    const base = record(Date.now());
    await insertForUser(store, base, 2500, { sameExpiry: true });
    const listed = await store.listByUser(base.userId, base.tenantId);
    expect(listed.length).toBe(2500);
    expect(new Set(listed.map((r) => r.id)).size).toBe(2500);
    expect(await store.deleteByUser(base.userId, base.tenantId)).toBe(2500);
    expect(await store.listByUser(base.userId, base.tenantId)).toEqual([]);
  });
});

describe('background cleanup errors', () => {
  it('go to onError as STORAGE (a missing table says to run migrate())', async () => {
    const errors: SessionError[] = [];
    const store = new PostgresSessionStore({
      pool,
      schema,
      table: `nothere_${rand().replace(/-/g, '')}`,
      cleanupIntervalMs: 20,
      onError: (error) => {
        errors.push(error);
        throw new Error('a hook that throws changes nothing');
      },
    });
    opened.push(store);
    const deadline = Date.now() + 10_000;
    while (errors.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await store.close();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    for (const error of errors) {
      expect(SessionError.isInstance(error)).toBe(true);
      expect(error.code).toBe('STORAGE');
      expect(error.operation).toBe('cleanupExpired');
      expect(error.message).toContain('migrate()');
      expect(error.cause).toBeDefined();
    }
  });

  it('by default are logged with console.warn once per distinct message in a row, not every interval', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const spy = spyPool(pool);
    try {
      const table = `nothere_${rand().replace(/-/g, '')}`;
      const store = new PostgresSessionStore({ pool: spy.pool, schema, table, cleanupIntervalMs: 20 });
      opened.push(store);
      const deadline = Date.now() + 10_000;
      while (spy.log.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(spy.log.length).toBeGreaterThanOrEqual(4); // four failed runs
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain(`"${schema}"."${table}" does not exist`);
      // a run that succeeds in between: the same failure is logged again
      await store.migrate();
      const migrated = spy.log.length;
      while (spy.log.length < migrated + 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await pool.query(`DROP TABLE "${schema}"."${table}"`);
      while (warn.mock.calls.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await store.close();
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });
});

/** Inserts `count` sessions of one user with one statement (a real record per row). */
async function insertForUser(
  store: PostgresSessionStore,
  base: SessionRecord,
  count: number,
  { sameExpiry = false } = {},
): Promise<void> {
  const template = encodeRecord({ ...base, id: '__ID__' });
  await pool.query(
    `INSERT INTO "${store.schema}"."${store.table}" (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record)
     SELECT 'bulk-' || g, $1, $2, $3::bigint + g % 7, $4::bigint + CASE WHEN $7 THEN 0 ELSE g END, $3::bigint,
            replace($5, '__ID__', 'bulk-' || g)
       FROM generate_series(1, $6::int) AS g`,
    [base.tenantId, base.userId, base.createdAt.getTime(), base.expiresAt.getTime(), template, count, sameExpiry],
  );
}

/** Inserts `count` sessions through the store (so they are real records). */
async function insertMany(store: PostgresSessionStore, count: number, now: number, expiresAt: number): Promise<void> {
  const batch: Promise<string>[] = [];
  for (let i = 0; i < count; i++) {
    batch.push(store.create(record(now, { expiresAt: new Date(expiresAt - (i % 3)) })));
    if (batch.length === 50) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}
