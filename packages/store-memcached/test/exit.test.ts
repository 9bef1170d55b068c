// The quick start run against a server that misbehaves: an operation in flight always
// settles (STORAGE) before the process can exit. Before, the process ended with code 13
// ("unsettled top-level await") and no message, because nothing kept it alive while the
// operation was pending.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const cwd = fileURLToPath(new URL('..', import.meta.url));

const sockets = new Set<net.Socket>();
let closing: net.Server;
let silent: net.Server;

async function listen(onSocket: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  closing = await listen((socket) => socket.destroy()); // accepts, then closes
  silent = await listen(() => {}); // accepts, reads, never answers
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([closing, silent].map((s) => new Promise((r) => s?.close(r))));
});

/** The README's quick start, one `get`, in a fresh process; returns its output and exit code. */
function quickStart(port: number) {
  const script = `import memjs from 'memjs';
    import { MemcachedSessionStore } from ${JSON.stringify(dist)};
    const client = memjs.Client.create('127.0.0.1:${port}', { timeout: 1, logger: { log() {} } });
    const store = new MemcachedSessionStore({ client, operationTimeoutMs: 1000 });
    try {
      console.log('resolved', await store.get('some-session'));
    } catch (error) {
      console.log(error.code, error.message);
    }`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', timeout: 30000 });
}

describe('an operation in flight settles before the process exits', () => {
  it('against a server that accepts and then closes the connection: STORAGE, exit 0', () => {
    const run = quickStart((closing.address() as net.AddressInfo).port);
    expect(run.stdout).toMatch(/^STORAGE /);
    expect(run.status).toBe(0);
  });

  it('against a server that accepts and never answers: STORAGE, exit 0', () => {
    const run = quickStart((silent.address() as net.AddressInfo).port);
    expect(run.stdout).toMatch(/^STORAGE /);
    expect(run.status).toBe(0);
  });
});
