// Throwaway memcached servers for tests.
import { findBinary, freePort, isRoot, signal, spawnServer, untrackPid, waitForExit, waitForPort } from './util.mjs';

const HINT = 'Install it with: apt-get install -y memcached';

/**
 * Starts memcached on a free loopback port. Returns { server: 'host:port', host, port,
 * pid, pause, resume, kill, restart, stop }.
 */
export async function startMemcached({ memoryMb = 64 } = {}) {
  const bin = findBinary('memcached', [], HINT);
  const port = await freePort();
  let proc;
  const launch = async () => {
    const args = ['-l', '127.0.0.1', '-p', String(port), '-m', String(memoryMb), '-U', '0'];
    if (isRoot()) args.unshift('-u', 'memcache');
    proc = spawnServer(bin, args);
    try {
      await waitForPort(port, { what: 'memcached' });
    } catch (error) {
      throw new Error(`${error.message}\n${proc.stderr()}`);
    }
  };
  await launch();
  return {
    host: '127.0.0.1',
    port,
    server: `127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    pause: () => signal(proc.pid, 'SIGSTOP'),
    resume: () => signal(proc.pid, 'SIGCONT'),
    async kill() {
      signal(proc.pid, 'SIGKILL');
      await waitForExit(proc.pid);
      untrackPid(proc.pid);
    },
    restart: launch,
    async stop() {
      signal(proc.pid, 'SIGCONT');
      signal(proc.pid, 'SIGKILL');
      await waitForExit(proc.pid).catch(() => {});
      untrackPid(proc.pid);
    },
  };
}
