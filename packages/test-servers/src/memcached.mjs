// Throwaway memcached servers for tests.
import { findBinary, freePort, isRoot, launchServer, serverHandle } from './util.mjs';

const HINT = 'Install it with: apt-get install -y memcached';

/**
 * Starts memcached on a free loopback port. Returns { server: 'host:port', host, port,
 * pid, pause, resume, kill, restart, stop }.
 */
export async function startMemcached({ memoryMb = 64 } = {}) {
  const bin = findBinary('memcached', [], HINT);
  const port = await freePort();
  const args = ['-l', '127.0.0.1', '-p', String(port), '-m', String(memoryMb), '-U', '0'];
  if (isRoot()) args.unshift('-u', 'memcache');
  let proc = await launchServer(bin, args, port, 'memcached');
  const restart = async () => {
    proc = await launchServer(bin, args, port, 'memcached');
  };
  return serverHandle({ host: '127.0.0.1', port, server: `127.0.0.1:${port}` }, () => proc, restart);
}
