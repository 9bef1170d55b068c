// End to end over HTTP: an express 5 app with express-session (resave: false,
// saveUninitialized: false, a one-day cookie), GET /page as a signed-in user through
// autocannon on loopback, 32 connections each with a session of its own. Each backend
// compares the peer store users pick with SessionkitStore over the sessionkit store, on
// the same server (Redis: connect-redis 10 on node-redis, which batches the commands of one
// event-loop turn into one socket write, vs store-redis on ioredis with its defaults, as the
// express-session README sets it up (store-redis batches the reads of a turn into one
// MGET itself), and also with enableAutoPipelining), alternating rounds (the order reversed every other round, A B B A ..., so
// a load that drifts during a round favours neither); each app runs in a child process.
// Per page view the apps report what they served, so the figures below divide by page views
// the app answered (autocannon drops the requests it has in flight when a run ends):
// - backend work: Redis `total_commands_processed` (commands clients sent; commands a
//   script runs are not counted apart) and, per command, INFO commandstats (those do
//   count a script's commands); PostgreSQL: statements the app's pg clients sent;
// - the app process's CPU time (user + system) per page view: the figure the machine's
//   other load disturbs least, where req/s on a busy machine swings by 2x between rounds.
// The ratio is ours / peer within each round (the two ran back to back), median over
// rounds, with its lowest and highest round.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, startRedis } from '@sessionkit/test-servers';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { fmt, rows, settings } from '../harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = 32;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function startApp(variant, env) {
  const child = fork(path.join(here, 'app-server.mjs'), [variant], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${variant} app exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const cookies = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const res = await fetch(`${base}/login`, { method: 'POST' });
    const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
    cookies.push(cookie ?? '');
  }
  return {
    variant,
    base,
    cookies,
    /** { statements, pageViews, cpuUs } so far, once no page view is in flight. */
    stats: () =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send('stats');
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

async function load(app, durationMs) {
  let next = 0;
  const result = await autocannon({
    url: `${app.base}/page`,
    connections: CONNECTIONS,
    duration: durationMs / 1000,
    setupClient: (client) => {
      const cookie = app.cookies[next++ % app.cookies.length];
      if (cookie) client.setHeaders({ cookie });
    },
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${app.variant}: ${result.non2xx} non-2xx answers, ${result.errors} errors (the session was lost?)`,
    );
  }
  return { requests: result.requests.total, perSec: result.requests.total / (durationMs / 1000) };
}

async function redisCounters(client) {
  const text = await client.info('all');
  const total = Number(/total_commands_processed:(\d+)/.exec(text)?.[1]);
  const perCommand = {};
  for (const [, name, calls] of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) perCommand[name] = Number(calls);
  return { total, perCommand };
}

/**
 * Runs the variants alternately (order reversed every other round); returns per variant
 * the per-round req/s, backend work and app CPU µs per page view, and their medians.
 */
async function measure(apps, counters) {
  const durationMs = Math.max(2_000, settings.durationMs);
  for (const app of apps) await load(app, Math.min(2_000, durationMs)); // warm-up (JIT, connections)
  const samples = new Map(apps.map((a) => [a.variant, { rps: [], work: [], cpu: [], detail: {} }]));
  for (let round = 0; round < settings.rounds; round++) {
    for (const app of round % 2 ? [...apps].reverse() : apps) {
      const before = { backend: await counters(app), app: await app.stats() };
      const { perSec } = await load(app, durationMs);
      const after = { app: await app.stats(), backend: await counters(app) };
      const views = after.app.pageViews - before.app.pageViews;
      const s = samples.get(app.variant);
      s.rps.push(perSec);
      s.cpu.push((after.app.cpuUs - before.app.cpuUs) / views);
      if (before.backend) {
        const info = (after.backend.perCommand?.info ?? 0) - (before.backend.perCommand?.info ?? 0);
        s.work.push((after.backend.total - before.backend.total - info) / views);
        for (const [name, calls] of Object.entries(after.backend.perCommand ?? {})) {
          const delta = calls - (before.backend.perCommand?.[name] ?? 0);
          if (delta > 0) s.detail[name] = (s.detail[name] ?? 0) + delta / views / settings.rounds;
        }
      }
      process.stderr.write(
        `  ${app.variant} round ${round + 1}: ${fmt(perSec)} req/s, app CPU ${Math.round(s.cpu.at(-1))} µs per page view\n`,
      );
    }
  }
  return new Map(
    [...samples].map(([variant, s]) => [
      variant,
      { ...s, medianRps: median(s.rps), medianCpu: median(s.cpu), medianWork: s.work.length ? median(s.work) : null },
    ]),
  );
}

function record(backend, result, ours, peer, unit) {
  const o = result.get(ours);
  const p = result.get(peer);
  const detail = (d) =>
    Object.entries(d)
      .filter(([name, v]) => v >= 0.005 && name !== 'info')
      .map(([name, v]) => `${name.toUpperCase()} ${v.toFixed(2)}`)
      .join(', ');
  const paired = o.rps.map((v, i) => v / p.rps[i]);
  const pairedCpu = o.cpu.map((v, i) => p.cpu[i] / v);
  const round2 = (v) => Number(v.toFixed(2));
  const row = {
    store: 'express',
    op: `${backend}: GET /page signed in`,
    concurrency: CONNECTIONS,
    opsPerSec: Math.round(o.medianRps),
    reference: peer,
    referenceOpsPerSec: Math.round(p.medianRps),
    // ours / peer within each round, median over rounds: steadier than the ratio of
    // medians when the machine's load swings between rounds
    ratio: round2(median(paired)),
    ratioLowest: round2(Math.min(...paired)),
    ratioHighest: round2(Math.max(...paired)),
    ratioOfMedians: round2(o.medianRps / p.medianRps),
    appCpuUsPerRequest: Math.round(o.medianCpu),
    referenceAppCpuUsPerRequest: Math.round(p.medianCpu),
    // peer's CPU / ours per page view, paired by round (above 1: ours costs the app less)
    cpuRatio: round2(median(pairedCpu)),
    backendWorkUnit: unit,
    backendWorkPerRequest: o.medianWork === null ? null : Number(o.medianWork.toFixed(3)),
    referenceBackendWorkPerRequest: p.medianWork === null ? null : Number(p.medianWork.toFixed(3)),
    backendWorkDetail: detail(o.detail),
    referenceBackendWorkDetail: detail(p.detail),
  };
  rows().push(row);
  const work =
    row.backendWorkPerRequest === null
      ? ''
      : `; ${unit} per page view: ${row.backendWorkPerRequest} (${row.backendWorkDetail}) vs ${row.referenceBackendWorkPerRequest} (${row.referenceBackendWorkDetail})`;
  process.stderr.write(
    `  ${backend}: SessionkitStore ${fmt(row.opsPerSec)} req/s vs ${peer} ${fmt(row.referenceOpsPerSec)}: ratio ${row.ratio} (rounds ${row.ratioLowest}..${row.ratioHighest}; of medians ${row.ratioOfMedians}); app CPU per page view ${row.appCpuUsPerRequest} µs vs ${row.referenceAppCpuUsPerRequest} µs (ratio ${row.cpuRatio})${work}\n`,
  );
}

export async function run() {
  const only = (process.env.BENCH_EXPRESS_BACKENDS ?? 'memory,redis,postgres').split(',');
  if (only.includes('memory')) {
    const apps = [];
    try {
      for (const v of ['memorystore', 'sessionkit-memory', 'none']) apps.push(await startApp(v, {}));
      const result = await measure(apps, async () => null);
      record('memory', result, 'sessionkit-memory', 'memorystore', null);
      const none = result.get('none');
      rows().push({
        store: 'express',
        op: 'GET /page with no session (the ceiling)',
        concurrency: CONNECTIONS,
        opsPerSec: Math.round(none.medianRps),
        appCpuUsPerRequest: Math.round(none.medianCpu),
        reference: null,
        referenceOpsPerSec: null,
        ratio: null,
      });
    } finally {
      await Promise.all(apps.map((a) => a.stop()));
    }
  }
  if (only.includes('redis')) {
    const server = await startRedis();
    const probe = new Redis(server.url, { lazyConnect: true });
    const apps = [];
    try {
      await probe.connect();
      for (const v of ['connect-redis', 'sessionkit-redis', 'sessionkit-redis-autopipelining']) {
        apps.push(await startApp(v, { REDIS_URL: server.url }));
      }
      const result = await measure(apps, () => redisCounters(probe));
      record('redis', result, 'sessionkit-redis', 'connect-redis', 'Redis commands');
      record(
        'redis, ioredis with enableAutoPipelining',
        result,
        'sessionkit-redis-autopipelining',
        'connect-redis',
        'Redis commands',
      );
    } finally {
      await Promise.all(apps.map((a) => a.stop()));
      probe.disconnect();
      await server.stop();
    }
  }
  if (only.includes('postgres')) {
    const server = await startPostgres();
    const apps = [];
    try {
      for (const v of ['connect-pg-simple', 'sessionkit-postgres']) {
        apps.push(await startApp(v, { DATABASE_URL: server.url }));
      }
      const result = await measure(apps, async (app) => ({ total: (await app.stats()).statements }));
      record('postgres', result, 'sessionkit-postgres', 'connect-pg-simple', 'SQL statements');
    } finally {
      await Promise.all(apps.map((a) => a.stop()));
      await server.stop();
    }
  }
}
