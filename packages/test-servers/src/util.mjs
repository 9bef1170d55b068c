// Shared helpers for tests that start their own throwaway servers on loopback.
// Every process started here is remembered by PID and only those are stopped.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const started = new Set();
let exitHookInstalled = false;

/** Remembers a PID so it is killed if the test process exits without stopping it. */
export function trackPid(pid) {
  started.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of started) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    });
  }
}

export function untrackPid(pid) {
  started.delete(pid);
}

/** True when `port` can be bound on 127.0.0.1 right now (one attempt, no retry). */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago: one the OS picks, or a random one
 * in [min, max) (up to 200 tries, then an error saying so).
 */
export async function freePort({ min = 0, max = 0 } = {}) {
  if (!(min && max)) {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = /** @type {net.AddressInfo} */ (server.address());
        server.close(() => resolve(port));
      });
    });
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = min + Math.floor(Math.random() * (max - min));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free TCP port on 127.0.0.1 in ${min}-${max - 1} after 200 tries`);
}

/**
 * Waits until something accepts TCP connections on the port.
 * @param {number} port
 * @param {{ timeoutMs?: number, what?: string, logFile?: string }} [options]
 */
export async function waitForPort(port, { timeoutMs = 15_000, what = 'server', logFile } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms${logFile ? ` (log: ${logFile})` : ''}`,
      );
    }
    await sleep(50);
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function tempDir(prefix) {
  return mkdtempSync(path.join(os.tmpdir(), `sessionkit-${prefix}-`));
}

export function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {}
}

/** Finds an executable on PATH or in extra directories; throws an actionable error when missing. */
export function findBinary(name, extraDirs = [], installHint = '') {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(
    `cannot start test server: '${name}' is not installed.${installHint ? ` ${installHint}` : ''} ` +
      `(or point the tests at a running server with the environment variable named in the package README)`,
  );
}

/** Spawns a long-running server process, tracked by PID. */
export function spawnServer(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  child.unref();
  /** @type {net.Socket | null} */ (child.stderr)?.unref();
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  trackPid(child.pid);
  return { child, pid: child.pid, stderr: () => stderr };
}

/**
 * Spawns a server process (tracked by PID) and waits until it accepts connections on
 * `port`; when it does not, kills it and throws with its stderr.
 */
export async function launchServer(command, args, port, what) {
  const proc = spawnServer(command, args);
  try {
    await waitForPort(port, { what });
  } catch (error) {
    signal(proc.pid, 'SIGKILL');
    untrackPid(proc.pid);
    throw new Error(`${error.message}\n${proc.stderr()}`);
  }
  return proc;
}

/**
 * A TestServer (index.d.mts) over a process started with `launchServer`: `fields` (host,
 * port, url...), `pid` of the process `current()` returns (a restart replaces it), and
 * pause/resume/kill/stop acting on that PID only. `cleanUp` runs after stop (its files).
 */
export function serverHandle(fields, current, restart, cleanUp = () => {}) {
  return {
    ...fields,
    get pid() {
      return current().pid;
    },
    pause: () => signal(current().pid, 'SIGSTOP'),
    resume: () => signal(current().pid, 'SIGCONT'),
    async kill() {
      const { pid } = current();
      signal(pid, 'SIGKILL');
      await waitForExit(pid);
      untrackPid(pid);
    },
    restart,
    async stop() {
      const { pid } = current();
      signal(pid, 'SIGCONT');
      signal(pid, 'SIGKILL');
      await waitForExit(pid).catch(() => {});
      untrackPid(pid);
      cleanUp();
    },
  };
}

/** Sends a signal to a PID we started; ignores a process that is already gone. */
export function signal(pid, sig) {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the PID no longer exists. */
export async function waitForExit(pid, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!signal(pid, 0)) return;
    await sleep(20);
  }
  throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}
