// store-postgres next to raw pg running named statements of the same text (plus core's codec, the
// same work without the store around it) and connect-pg-simple 10.0.0 through its own
// express-session store API (get/set/touch, promisified). Each contender has its own
// pool of 10. Plus: listByUser at 10k vs 1M total rows, and cleanupExpired of 100k
// expired rows with the longest single statement measured.
import { decodeRecord, encodeRecord, generateSessionId, tenantId } from '@sessionkit/core';
import { DEFAULT_CLEANUP_BATCH_SIZE, PostgresSessionStore } from '@sessionkit/store-postgres';
import { startPostgres } from '@sessionkit/test-servers';
import connectPgSimple from 'connect-pg-simple';
import session from 'express-session';
import pg from 'pg';
import {
  callback as cb,
  compare,
  expressSession,
  opsPerSec,
  sessionRecord as record,
  rows,
  sampleMetadata,
  scaling,
  settings,
} from '../harness.mjs';

const STORE = 'postgres';
const HOUR = 3_600_000;
const POPULATION = 10_000; // sessions read by get/touch
const USERS = 2_000; // 5 sessions each
const POOL = 10;
const BIG = Number(process.env.BENCH_PG_BIG ?? 1_000_000); // total rows for the listByUser scaling row
const EXPIRED = 100_000; // rows for the cleanup row
const tenant = tenantId('acme');

function makePool(url) {
  const pool = new pg.Pool({ connectionString: url, max: POOL });
  pool.on('error', () => {});
  return pool;
}

/**
 * Raw pg: named statements with the same text as the store's (its src/sql.ts), core's
 * codec, nothing else.
 */
function rawClient(pool, qualified) {
  const t = qualified;
  const q = {
    get: { name: 'bench_raw_get', text: `SELECT record, expires_at, last_activity_at FROM ${t} WHERE id = $1` },
    touch: { name: 'bench_raw_touch', text: `UPDATE ${t} SET last_activity_at = $2 WHERE id = $1 AND expires_at > $2` },
    listByUser: {
      name: 'bench_raw_list',
      text: `SELECT id, record, expires_at, last_activity_at FROM ${t} WHERE tenant_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY expires_at, id LIMIT 1000`,
    },
  };
  // A plain INSERT (no per-user bound): what a store without maxSessionsPerUser would run.
  const insert = {
    name: 'bench_raw_insert',
    text: `INSERT INTO ${t} (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
  };
  const decode = (row) => {
    const r = decodeRecord(row.record);
    r.expiresAt = new Date(Number(row.expires_at));
    r.lastActivityAt = new Date(Number(row.last_activity_at));
    return r;
  };
  return {
    async get(id) {
      const { rows } = await pool.query({ name: q.get.name, text: q.get.text, values: [id] });
      if (!rows[0]) return null;
      if (Number(rows[0].expires_at) <= Date.now()) throw new Error('expired');
      return decode(rows[0]);
    },
    async create(rec) {
      const r = { ...rec, id: generateSessionId() };
      const values = [
        r.id,
        r.tenantId,
        r.userId,
        r.createdAt.getTime(),
        r.expiresAt.getTime(),
        r.lastActivityAt.getTime(),
        encodeRecord(r),
      ];
      const res = await pool.query({ name: insert.name, text: insert.text, values });
      if (res.rowCount !== 1) throw new Error('conflict');
      return r.id;
    },
    async touch(id) {
      const res = await pool.query({ name: q.touch.name, text: q.touch.text, values: [id, Date.now()] });
      if (res.rowCount !== 1) throw new Error('missing');
    },
    async listByUser(userId, t) {
      const { rows } = await pool.query({
        name: q.listByUser.name,
        text: q.listByUser.text,
        values: [t, userId, Date.now()],
      });
      return rows.map(decode).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
  };
}

/** Adds filler rows (other users, realistic ~1.3 KB records) with one INSERT ... SELECT per chunk. */
async function fill(pool, store, count, { expired = false, prefix }) {
  const now = Date.now();
  const template = encodeRecord(record('__ID__', '__USER__', now, sampleMetadata()));
  const qualified = `"${store.schema}"."${store.table}"`;
  const chunk = 50_000;
  for (let from = 0; from < count; from += chunk) {
    const to = Math.min(count, from + chunk);
    await pool.query(
      `INSERT INTO ${qualified} (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record)
       SELECT $1 || g, 'acme', $1 || 'u' || (g / 5), $2::bigint, $3::bigint + (g % 1000), $2::bigint,
              replace(replace($4, '__ID__', $1 || g), '__USER__', $1 || 'u' || (g / 5))
         FROM generate_series($5::int, $6::int - 1) AS g`,
      [prefix, now - 2 * HOUR, expired ? now - HOUR : now + HOUR, template, from, to],
    );
  }
  await pool.query(`VACUUM ANALYZE ${qualified}`);
}

/** A pool whose clients time every statement (for the cleanup row). */
function timedPool(pool, samples) {
  const patched = new WeakSet();
  const patch = (client) => {
    if (patched.has(client)) return client;
    patched.add(client);
    const query = client.query.bind(client);
    client.query = (config, values, callback) => {
      const started = performance.now();
      if (typeof values === 'function' || typeof callback === 'function') {
        const done = typeof values === 'function' ? values : callback;
        const wrapped = (err, res) => {
          if (!err) samples.push(performance.now() - started);
          done(err, res);
        };
        return typeof values === 'function' ? query(config, wrapped) : query(config, values, wrapped);
      }
      const result = query(config, values);
      result.then(
        () => samples.push(performance.now() - started),
        () => {},
      );
      return result;
    };
    return client;
  };
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'connect') {
        return (callback) => {
          if (callback) return target.connect((err, client, done) => callback(err, client && patch(client), done));
          return target.connect().then(patch);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export async function run() {
  const server = await startPostgres();
  const pools = [];
  const pool = () => {
    const p = makePool(server.url);
    pools.push(p);
    return p;
  };
  try {
    await runAll(pool);
  } finally {
    for (const p of pools) await p.end().catch(() => {});
    await server.stop();
  }
}

async function runAll(pool) {
  const metadata = sampleMetadata();
  const now = Date.now();
  const store = new PostgresSessionStore({ pool: pool(), table: 'bench_sessions' });
  await store.migrate();
  const raw = rawClient(pool(), `"${store.schema}"."${store.table}"`);
  const PGStore = connectPgSimple(session);
  const peerPool = pool();
  const peer = new PGStore({ pool: peerPool, createTableIfMissing: true, pruneSessionInterval: false });

  // Populations: the store's sessions (read by the store and raw pg alike) and the peer's.
  const ids = [];
  const peerIds = [];
  for (let i = 0; i < POPULATION; i += 100) {
    const batch = [];
    for (let k = i; k < i + 100; k++) {
      const userId = `user-${k % USERS}`;
      batch.push(store.create(record('', userId, now, metadata)).then((id) => ids.push(id)));
      const sid = generateSessionId();
      peerIds.push(sid);
      batch.push(cb((done) => peer.set(sid, expressSession(metadata, userId), done)));
    }
    await Promise.all(batch);
  }
  await peerPool.query('VACUUM ANALYZE "public"."bench_sessions"');
  await peerPool.query('VACUUM ANALYZE "session"');

  // Creates spread over USERS users (a few sessions each, as sign-ins are): the store's
  // create also checks the user's count against maxSessionsPerUser.
  const createRecords = Array.from({ length: USERS }, (_, k) => record('', `new-${k}`, now, metadata));
  const createSession = expressSession(metadata, 'user-new');
  const touchSession = expressSession(metadata, 'user-0');
  const pgSimple = 'connect-pg-simple 10.0.0';
  const rawName = 'raw pg (same named statement + codec)';
  const rawInsert = 'raw pg (plain named INSERT + codec)';

  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'get',
      concurrency,
      subject: (i) => store.get(ids[i % POPULATION]),
      references: [
        { name: rawName, fn: (i) => raw.get(ids[i % POPULATION]) },
        { name: pgSimple, fn: (i) => cb((done) => peer.get(peerIds[i % POPULATION], done)) },
      ],
    });
  }
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'touch',
      concurrency,
      subject: (i) => store.touch(ids[i % POPULATION]),
      references: [
        { name: rawName, fn: (i) => raw.touch(ids[i % POPULATION]) },
        { name: pgSimple, fn: (i) => cb((done) => peer.touch(peerIds[i % POPULATION], touchSession, done)) },
      ],
    });
  }
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'create',
      concurrency,
      subject: (i) => store.create(createRecords[i % USERS]),
      references: [
        { name: rawInsert, fn: (i) => raw.create(createRecords[i % USERS]) },
        { name: `${pgSimple} (set)`, fn: () => cb((done) => peer.set(generateSessionId(), createSession, done)) },
      ],
    });
  }
  // A user already at maxSessionsPerUser (1000): each create also removes that user's
  // session that expires soonest, in the same statement. Their expiries differ by a ms
  // each, as real sign-ins' do (1000 sessions expiring in the same ms would make every
  // create sort all of them to break the tie). The raw INSERT evicts nothing, so it writes
  // to another user: on the store's user it would pile thousands of sessions past the
  // bound between the store's rounds, and the store's creates would then measure removing
  // up to 1000 of them each.
  const fullRecord = record('', 'user-full', now, metadata);
  const rawFullRecord = record('', 'raw-full', now, metadata);
  const later = (ms) => ({ ...fullRecord, expiresAt: new Date(fullRecord.expiresAt.getTime() + ms) });
  for (let i = 0; i < 1000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => store.create(later(1 + i + k))));
  }
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'create (user at maxSessionsPerUser 1000)',
      concurrency,
      subject: () => store.create(fullRecord),
      references: [{ name: rawInsert, fn: () => raw.create(rawFullRecord) }],
    });
  }
  // connect-pg-simple cannot list a user's sessions.
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'listByUser (5 sessions)',
      concurrency,
      subject: (i) => store.listByUser(`user-${i % USERS}`, tenant),
      references: [{ name: rawName, fn: (i) => raw.listByUser(`user-${i % USERS}`, tenant) }],
    });
  }

  await scalingRow(pool, metadata);
  await cleanupRow(pool);
}

/** listByUser of users with 5 sessions each, in a table of 10k rows and then of BIG rows. */
async function scalingRow(pool, metadata) {
  const p = pool();
  const store = new PostgresSessionStore({ pool: p, table: 'bench_scaling' });
  await store.migrate();
  const now = Date.now();
  const measured = 200;
  for (let u = 0; u < measured; u++) {
    await Promise.all(Array.from({ length: 5 }, () => store.create(record('', `measured-${u}`, now, metadata))));
  }
  await fill(p, store, 10_000 - measured * 5, { prefix: 'small-' });
  const list = (i) => store.listByUser(`measured-${i % measured}`, tenant);
  const measure = async (concurrency) => {
    await opsPerSec(list, { concurrency, durationMs: settings.warmupMs });
    const samples = [];
    for (let r = 0; r < settings.rounds; r++) samples.push(await opsPerSec(list, { concurrency }));
    return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  };
  const small = { 1: await measure(1), 64: await measure(64) };
  const started = performance.now();
  await fill(p, store, BIG - 10_000, { prefix: 'big-' });
  process.stderr.write(`  (filled ${BIG - 10_000} rows in ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  const label = (n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);
  for (const concurrency of [1, 64]) {
    scaling({
      store: STORE,
      op: 'listByUser (5 sessions)',
      concurrency,
      small: small[concurrency],
      large: await measure(concurrency),
      smallLabel: '10k rows',
      largeLabel: `${label(BIG)} rows`,
    });
  }
  await p.query('DROP TABLE "public"."bench_scaling"');
}

/** cleanupExpired of 100k expired rows (among 100k live ones), timing every statement. */
async function cleanupRow(pool) {
  const p = pool();
  const samples = [];
  const store = new PostgresSessionStore({ pool: timedPool(p, samples), table: 'bench_cleanup' });
  await store.migrate();
  await fill(p, store, EXPIRED, { expired: true, prefix: 'dead-' });
  await fill(p, store, EXPIRED, { prefix: 'live-' });
  samples.length = 0;
  const started = performance.now();
  const removed = await store.cleanupExpired();
  const seconds = (performance.now() - started) / 1000;
  if (removed !== EXPIRED) throw new Error(`cleanupExpired removed ${removed}, expected ${EXPIRED}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const pct = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(0);
  const max = sorted[sorted.length - 1];
  const row = {
    store: STORE,
    op: `cleanupExpired ${EXPIRED / 1000}k expired rows (rows/s): ${samples.length} statements of <= ${DEFAULT_CLEANUP_BATCH_SIZE}, median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, max ${max.toFixed(0)} ms, total ${seconds.toFixed(2)} s`,
    concurrency: 1,
    opsPerSec: Math.round(removed / seconds),
    reference: null,
    referenceOpsPerSec: null,
    ratio: null,
  };
  rows().push(row);
  process.stderr.write(`  ${row.op}: ${row.opsPerSec} rows/s\n`);
  await p.query('DROP TABLE "public"."bench_cleanup"');
}
