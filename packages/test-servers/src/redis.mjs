// Throwaway Redis servers (single and Cluster) for tests.
import {
  findBinary,
  freePort,
  launchServer,
  portIsFree,
  removeDir,
  run,
  serverHandle,
  sleep,
  tempDir,
} from './util.mjs';

const HINT = 'Install it with: apt-get install -y redis-server';

/**
 * Starts redis-server on a free loopback port. Returns { url, host, port, pid, pause,
 * resume, kill, restart, stop }. `restart` starts a new process on the same port.
 * @param {{ port?: number, extraArgs?: string[] }} [options]
 */
export async function startRedis({ port: wantedPort, extraArgs = [] } = {}) {
  const bin = findBinary('redis-server', [], HINT);
  const dir = tempDir('redis');
  const port = wantedPort ?? (await freePort());
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir];
  args.push(...extraArgs);
  let proc;
  try {
    proc = await launchServer(bin, args, port, 'redis-server');
  } catch (error) {
    removeDir(dir);
    throw error;
  }
  const restart = async () => {
    proc = await launchServer(bin, args, port, 'redis-server');
  };
  return serverHandle(
    { host: '127.0.0.1', port, url: `redis://127.0.0.1:${port}` },
    () => proc,
    restart,
    () => removeDir(dir),
  );
}

/**
 * Starts a Redis Cluster of `masters` nodes (no replicas) on ports in 10000-21999 (the
 * cluster bus uses port + 10000). Returns { nodes: [{ host, port }], stop }.
 */
export async function startRedisCluster({ masters = 3 } = {}) {
  const cli = findBinary('redis-cli', [], HINT);
  /** @type {import('./index.mjs').RedisServer[]} */
  const nodes = [];
  let busTaken = 0;
  try {
    for (let i = 0; i < masters; i++) {
      // Bus ports (port + 10000) stay below 32768, where the OS hands out the ports
      // other tests' servers get from freePort(): a taken bus port makes a node exit.
      const port = await freePort({ min: 10000, max: 22000 });
      if (!(await portIsFree(port + 10000))) {
        if (++busTaken > 200)
          throw new Error('no Redis Cluster port with a free bus port (port + 10000) after 200 tries');
        i--;
        continue;
      }
      const node = await startRedis({
        port,
        extraArgs: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '5000',
        ],
      });
      nodes.push(node);
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = nodes.map((n) => run(cli, ['-p', String(n.port), 'cluster', 'info']));
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok: ${states.join('\n')}`);
    await sleep(100);
  }
  return {
    nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    servers: nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
