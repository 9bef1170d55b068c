// Each server's controls act on the process it started, and only on it: pause stops it
// (state T in /proc), resume and restart bring it back on the same port, kill and stop
// leave no process behind and a free port, and PostgreSQL's stop removes its data.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startMemcached, startPostgres, startRedis } from '../src/index.mjs';
import { portIsFree } from '../src/util.mjs';

/** The process state letter (R, S, T...) from /proc, or undefined when the PID is gone. */
function state(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

const alive = (pid) => ![undefined, 'Z', 'X'].includes(state(pid));

/**
 * The process state once `wanted(state)` holds, or the last state seen after 5 s: a signal
 * is delivered asynchronously, so a running process may show R for a moment after SIGSTOP.
 */
async function settledState(pid, wanted) {
  const until = Date.now() + 5000;
  let s = state(pid);
  while (!wanted(s) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    s = state(pid);
  }
  return s;
}

/** Sends a request and resolves with the first reply. */
function ask(port, request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(request));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(String(data));
    });
    socket.once('error', reject);
  });
}

// PostgreSQL answers an SSLRequest (length 8, code 80877103) with one byte, N or S.
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
const cases = [
  { name: 'redis', start: () => startRedis(), request: 'PING\r\n', reply: /^\+PONG/ },
  { name: 'memcached', start: () => startMemcached(), request: 'version\r\n', reply: /^VERSION / },
  { name: 'postgres', start: () => startPostgres(), request: SSL_REQUEST, reply: /^[NS]$/ },
];

for (const { name, start, request, reply } of cases) {
  describe(`start ${name}`, () => {
    it('answers on its loopback port; pause, resume, kill, restart and stop act on its PID', async () => {
      const server = await start();
      const files = /** @type {{ dataDir?: string }} */ (server).dataDir; // PostgreSQL's
      try {
        assert.equal(server.host, '127.0.0.1');
        assert.match(await ask(server.port, request), reply);
        const first = server.pid;
        assert.ok(alive(first));

        assert.equal(server.pause(), true);
        assert.equal(await settledState(first, (s) => s === 'T'), 'T');
        assert.equal(server.resume(), true);
        assert.notEqual(await settledState(first, (s) => s !== 'T'), 'T');
        assert.match(await ask(server.port, request), reply);

        await server.kill();
        assert.equal(alive(first), false);
        await server.restart();
        assert.notEqual(server.pid, first);
        assert.match(await ask(server.port, request), reply);
        if (files) assert.ok(existsSync(files), 'a restart keeps the data directory');
      } finally {
        await server.stop();
      }
      assert.equal(alive(server.pid), false);
      assert.equal(await portIsFree(server.port), true);
      if (files) assert.equal(existsSync(files), false, 'stop removes the data directory');
    });
  });
}
