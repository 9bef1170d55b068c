// End to end over HTTP: an express 5 app with express-session (resave: false,
// saveUninitialized: false, a one-day cookie), GET /page as a signed-in user through
// autocannon on loopback, 32 connections each with a session of its own. Each backend
// compares the peer store users pick with SessionkitStore over the sessionkit store, on
// the same server, alternating rounds; each app runs in a child process.
// Backend work per page view: Redis `total_commands_processed` (commands clients sent;
// commands a script runs are not counted apart) and, per command, INFO commandstats;
// PostgreSQL: statements the app's pg clients sent.
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
    statements: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m.statements));
        child.send('statements');
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

/** Runs the variants alternately; returns per variant the median req/s and the backend work per request. */
async function measure(apps, counters) {
  const durationMs = Math.max(2_000, settings.durationMs);
  for (const app of apps) await load(app, Math.min(1_000, durationMs)); // warm-up
  const samples = new Map(apps.map((a) => [a.variant, { rps: [], work: [], detail: {} }]));
  for (let round = 0; round < settings.rounds; round++) {
    for (const app of apps) {
      const before = await counters(app);
      const { requests, perSec } = await load(app, durationMs);
      const after = await counters(app);
      const s = samples.get(app.variant);
      s.rps.push(perSec);
      if (before) {
        s.work.push((after.total - before.total) / requests);
        for (const [name, calls] of Object.entries(after.perCommand ?? {})) {
          const delta = calls - (before.perCommand?.[name] ?? 0);
          if (delta > 0) s.detail[name] = (s.detail[name] ?? 0) + delta / requests / settings.rounds;
        }
      }
      process.stderr.write(`  ${app.variant} round ${round + 1}: ${fmt(perSec)} req/s\n`);
    }
  }
  return new Map(
    [...samples].map(([variant, s]) => [
      variant,
      { rps: median(s.rps), samples: s.rps, work: s.work.length ? median(s.work) : null, detail: s.detail },
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
  const row = {
    store: 'express',
    op: `${backend}: GET /page signed in`,
    concurrency: CONNECTIONS,
    opsPerSec: Math.round(o.rps),
    reference: peer,
    referenceOpsPerSec: Math.round(p.rps),
    ratio: Number((o.rps / p.rps).toFixed(2)),
    // ours / peer within each round (the two ran back to back), median over rounds:
    // steadier than the ratio of medians when the machine's load swings between rounds
    pairedRatio: Number(median(o.samples.map((v, i) => v / p.samples[i])).toFixed(2)),
    backendWorkUnit: unit,
    backendWorkPerRequest: o.work === null ? null : Number(o.work.toFixed(3)),
    referenceBackendWorkPerRequest: p.work === null ? null : Number(p.work.toFixed(3)),
    backendWorkDetail: detail(o.detail),
    referenceBackendWorkDetail: detail(p.detail),
  };
  rows().push(row);
  const work =
    row.backendWorkPerRequest === null
      ? ''
      : `; ${unit} per page view: ${row.backendWorkPerRequest} (${row.backendWorkDetail}) vs ${row.referenceBackendWorkPerRequest} (${row.referenceBackendWorkDetail})`;
  process.stderr.write(
    `  ${backend}: SessionkitStore ${fmt(row.opsPerSec)} req/s vs ${peer} ${fmt(row.referenceOpsPerSec)}: ratio ${row.ratio} (paired by round: ${row.pairedRatio})${work}\n`,
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
        opsPerSec: Math.round(none.rps),
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
      for (const v of ['connect-redis', 'sessionkit-redis']) apps.push(await startApp(v, { REDIS_URL: server.url }));
      const result = await measure(apps, () => redisCounters(probe));
      record('redis', result, 'sessionkit-redis', 'connect-redis', 'Redis commands');
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
      const result = await measure(apps, async (app) => ({ total: await app.statements() }));
      record('postgres', result, 'sessionkit-postgres', 'connect-pg-simple', 'SQL statements');
    } finally {
      await Promise.all(apps.map((a) => a.stop()));
      await server.stop();
    }
  }
}
