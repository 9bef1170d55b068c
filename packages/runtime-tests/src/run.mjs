// Runs the conformance suite inside Bun, Deno, workerd (Cloudflare Workers) and
// edge-runtime (Vercel), from their npm packages, and in Node as the reference.
//
// 1. esbuild bundles src/entry.mjs for the browser platform, so any `node:` import or Node
//    builtin in core, core/testing or store-memory fails the bundle.
// 2. Each runtime runs the same bundle and reports one result per test.
// 3. Every runtime must run exactly the tests Node ran; a runtime that cannot start, or
//    reports fewer tests, fails (nothing is skipped in CI).
// 4. Writes .test-results/vitest.json (one "file" per runtime) for scripts/sum-test-results.mjs.
//
// Usage: node src/run.mjs [--only=bun,deno,workerd,edge-runtime,node]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const RESULT_TAG = 'SESSIONKIT_RESULTS ';
const RUNTIME_TIMEOUT_MS = 150_000;
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

const work = mkdtempSync(path.join(tmpdir(), 'sessionkit-runtimes-'));
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function bin(name) {
  return path.join(pkgDir, 'node_modules', '.bin', name);
}

/** Runs a command (our child, killed by its PID on timeout); resolves { code, stdout, stderr }. */
function exec(command, args, { timeoutMs = RUNTIME_TIMEOUT_MS, env = {}, cwd = work } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      stderr += `\n${error.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

function parseResults(stdout, stderr, code) {
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_TAG));
  if (!line) {
    throw new Error(`no results (exit ${code})\n${(stderr || stdout).trim().split('\n').slice(-15).join('\n')}`);
  }
  return JSON.parse(line.slice(RESULT_TAG.length));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function runWorkerd(flags) {
  const exe = bin('workerd');
  const version = (await exec(exe, ['--version'], { timeoutMs: 30_000 })).stdout.trim();
  const port = await freePort();
  const config = `config-${port}.capnp`;
  writeFileSync(
    path.join(work, config),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "bundle.mjs", esModule = embed "bundle.mjs"),
  ],
  compatibilityDate = "2026-11-01",
  compatibilityFlags = [${flags.map((f) => JSON.stringify(f)).join(', ')}],
);
`,
  );
  const server = exec(exe, ['serve', config], { timeoutMs: RUNTIME_TIMEOUT_MS });
  let exited;
  server.then((r) => {
    exited = r;
  });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited) throw new Error(`workerd exited (${exited.code}) before it served\n${exited.stderr.trim()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(RUNTIME_TIMEOUT_MS) });
        const text = await res.text();
        if (!res.ok) throw new Error(`workerd answered ${res.status}: ${text.slice(0, 2000)}`);
        return { version, results: JSON.parse(text) };
      } catch (error) {
        if (error?.cause?.code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    for (const child of children) if (child.spawnargs.includes(config)) child.kill('SIGTERM');
    await server;
  }
}

const runtimes = {
  async node() {
    const r = await exec(process.execPath, ['cli.mjs']);
    return { version: process.version, results: parseResults(r.stdout, r.stderr, r.code) };
  },
  async bun() {
    const exe = path.join(path.dirname(require.resolve('bun/package.json')), 'bin', 'bun.exe');
    const version = (await exec(exe, ['--version'], { timeoutMs: 30_000 })).stdout.trim();
    const r = await exec(exe, ['cli.mjs'], { env: { BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } });
    return { version: `bun ${version}`, results: parseResults(r.stdout, r.stderr, r.code) };
  },
  async deno() {
    const env = { DENO_DIR: path.join(work, 'deno-dir'), DENO_NO_UPDATE_CHECK: '1' };
    const version = (await exec(bin('deno'), ['--version'], { timeoutMs: 30_000, env })).stdout.split(' (')[0];
    // No permissions at all: the suite needs none.
    const r = await exec(bin('deno'), ['run', '--no-config', '--no-lock', '--no-prompt', 'cli.mjs'], { env });
    return { version, results: parseResults(r.stdout, r.stderr, r.code) };
  },
  // workerd as a Worker with today's compatibility date gets (Node globals such as Buffer
  // and process, timer objects with unref) ...
  workerd: () => runWorkerd([]),
  // ... and as a plain Worker without Node compatibility: no Buffer, no process, timer
  // handles are numbers.
  'workerd-plain': () => runWorkerd(['no_nodejs_compat', 'no_nodejs_compat_v2']),
  // The server stores under Bun: throwaway Redis, PostgreSQL and memcached started here
  // (stopped by their PIDs), the suites run by bun from src/servers-entry.mjs.
  async 'bun-servers'() {
    const { startMemcached, startPostgres, startRedis } = await import('@sessionkit/test-servers');
    const exe = path.join(path.dirname(require.resolve('bun/package.json')), 'bin', 'bun.exe');
    const servers = [];
    try {
      const [redis, postgres, memcached] = await Promise.all([startRedis(), startPostgres(), startMemcached()]);
      servers.push(redis, postgres, memcached);
      const r = await exec(exe, [path.join(here, 'servers-entry.mjs')], {
        cwd: pkgDir,
        env: {
          SESSIONKIT_RT_REDIS_URL: redis.url,
          SESSIONKIT_RT_DATABASE_URL: postgres.url,
          SESSIONKIT_RT_MEMCACHED: memcached.server,
        },
      });
      const out = parseResults(r.stdout, r.stderr, r.code);
      if (out.results.length < 100) throw new Error(`only ${out.results.length} tests ran`);
      return { version: `bun ${out.info.bun}`, results: out };
    } finally {
      await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    }
  },
  async 'edge-runtime'() {
    const { EdgeRuntime } = await import('edge-runtime');
    const { readFileSync } = await import('node:fs');
    const runtime = new EdgeRuntime({ initialCode: readFileSync(path.join(work, 'bundle.iife.js'), 'utf8') });
    const check = await runtime.evaluate("typeof EdgeRuntime === 'string' && typeof require === 'undefined'");
    if (check !== true) throw new Error('not inside the edge-runtime VM');
    const json = await runtime.evaluate('globalThis.__sessionkitRuntimeTests().then((r) => JSON.stringify(r))');
    const version = JSON.parse(readFileSync(require.resolve('edge-runtime/package.json'), 'utf8')).version;
    return { version: `edge-runtime ${version}`, results: JSON.parse(json) };
  },
};

async function bundle() {
  const common = {
    entryPoints: [path.join(here, 'entry.mjs')],
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    logLevel: 'error',
    absWorkingDir: pkgDir,
  };
  await build({ ...common, format: 'esm', outfile: path.join(work, 'bundle.mjs') });
  await build({ ...common, format: 'iife', outfile: path.join(work, 'bundle.iife.js') });
  writeFileSync(
    path.join(work, 'cli.mjs'),
    `import './bundle.mjs';\nconst results = await globalThis.__sessionkitRuntimeTests();\nconsole.log(${JSON.stringify(RESULT_TAG)} + JSON.stringify(results));\n`,
  );
  writeFileSync(
    path.join(work, 'worker.mjs'),
    `import './bundle.mjs';\nexport default {\n  async fetch() {\n    return Response.json(await globalThis.__sessionkitRuntimeTests());\n  },\n};\n`,
  );
}

const report = [];
let bundled;
try {
  await bundle();
  bundled = true;
} catch (error) {
  report.push({
    runtime: 'bundle',
    error: `esbuild could not bundle the entry for the browser platform: ${error.message}`,
  });
}

let reference;
if (bundled) {
  for (const name of ['node', 'bun', 'deno', 'workerd', 'workerd-plain', 'edge-runtime', 'bun-servers']) {
    if (only && !only.includes(name)) continue;
    const started = Date.now();
    try {
      const { version, results: out } = await runtimes[name]();
      const { info, results } = out;
      const entry = { runtime: name, version, info, results, ms: Date.now() - started };
      if (name === 'node') reference = results.map((r) => r.name);
      else if (reference && name !== 'bun-servers') {
        const names = new Set(results.map((r) => r.name));
        const missing = reference.filter((n) => !names.has(n));
        if (missing.length || results.length !== reference.length) {
          entry.error = `ran ${results.length} tests, Node ran ${reference.length}; missing: ${missing.slice(0, 5).join('; ')}`;
        }
      }
      report.push(entry);
    } catch (error) {
      report.push({
        runtime: name,
        error: `${name} could not run the tests: ${error.stack ?? error}`,
        ms: Date.now() - started,
      });
    }
  }
}

// vitest's JSON report shape, one "file" per runtime.
const count = (status) => report.reduce((n, e) => n + (e.results ?? []).filter((r) => r.status === status).length, 0);
const testResults = report.map((e) => ({
  name: path.join(pkgDir, `runtime:${e.runtime}`),
  status: e.error || (e.results ?? []).some((r) => r.status === 'failed') ? 'failed' : 'passed',
  message: e.error ?? '',
  assertionResults: (e.results ?? []).map((r) => ({
    fullName: `[${e.runtime}] ${r.name}`,
    title: r.name,
    status: r.status === 'skipped' ? 'pending' : r.status,
    duration: r.ms,
    failureMessages: r.error ? [r.error] : [],
  })),
}));
const summary = {
  numTotalTests: count('passed') + count('failed') + count('skipped'),
  numPassedTests: count('passed'),
  numFailedTests: count('failed'),
  numPendingTests: count('skipped'),
  numTodoTests: 0,
  success: testResults.every((f) => f.status === 'passed') && report.length > 0,
  testResults,
};
mkdirSync(path.join(pkgDir, '.test-results'), { recursive: true });
writeFileSync(path.join(pkgDir, '.test-results', 'vitest.json'), `${JSON.stringify(summary, null, 2)}\n`);

for (const e of report) {
  const r = e.results ?? [];
  const n = (s) => r.filter((x) => x.status === s).length;
  console.log(
    `${e.error ? '✗' : n('failed') ? '✗' : '✓'} ${e.runtime.padEnd(13)} ${(e.version ?? '').padEnd(24)} ${n('passed')} passed, ${n('failed')} failed, ${n('skipped')} skipped${e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)} s)` : ''}${e.info?.timerHandle ? ` [timer handle: ${e.info.timerHandle}; Buffer: ${e.info.buffer}; process: ${e.info.process}]` : ''}`,
  );
  for (const note of e.info?.notes ?? []) console.log(`    - ${note}`);
  for (const t of r.filter((x) => x.status === 'failed').slice(0, 10))
    console.log(`    ✗ ${t.name}\n      ${t.error.split('\n').join('\n      ')}`);
  if (e.error) console.log(`    ! ${e.error.split('\n').join('\n      ')}`);
}
console.log(`${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${summary.numPendingTests} skipped`);
process.exitCode = summary.success ? 0 : 1;
