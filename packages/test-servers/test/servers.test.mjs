// Each server's controls act on the process it started, and only on it: pause stops it
// (state T in /proc), resume and restart bring it back on the same port, kill and stop
// leave no process behind and a free port, stop removes its files.
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

/** Sends one line and resolves with the first reply. */
function ask(port, line) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(`${line}\r\n`));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(String(data));
    });
    socket.once('error', reject);
  });
}

const cases = [
  { name: 'redis', start: () => startRedis(), line: 'PING', reply: /^\+PONG/ },
  { name: 'memcached', start: () => startMemcached(), line: 'version', reply: /^VERSION / },
];

for (const { name, start, line, reply } of cases) {
  describe(`start ${name}`, () => {
    it('answers on its loopback port; pause, resume, kill, restart and stop act on its PID', async () => {
      const server = await start();
      try {
        assert.equal(server.host, '127.0.0.1');
        assert.match(await ask(server.port, line), reply);
        const first = server.pid;
        assert.ok(alive(first));

        assert.equal(server.pause(), true);
        assert.equal(state(first), 'T');
        assert.equal(server.resume(), true);
        assert.notEqual(state(first), 'T');
        assert.match(await ask(server.port, line), reply);

        await server.kill();
        assert.equal(alive(first), false);
        await server.restart();
        assert.notEqual(server.pid, first);
        assert.match(await ask(server.port, line), reply);
      } finally {
        await server.stop();
      }
      assert.equal(alive(server.pid), false);
      assert.equal(await portIsFree(server.port), true);
    });
  });
}

describe('start postgres', () => {
  it('pause stops the postmaster, kill and restart keep the data directory, stop removes it', async () => {
    const server = await startPostgres();
    try {
      assert.match(server.url, new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${server.port}/postgres$`));
      assert.ok(existsSync(server.dataDir));
      const first = server.pid;
      assert.ok(alive(first));
      assert.equal(server.pause(), true);
      assert.equal(state(first), 'T');
      assert.equal(server.resume(), true);
      assert.notEqual(state(first), 'T');
      await server.kill();
      assert.equal(alive(first), false);
      await server.restart();
      assert.ok(alive(server.pid));
      assert.ok(existsSync(server.dataDir));
    } finally {
      await server.stop();
    }
    assert.equal(alive(server.pid), false);
    assert.equal(existsSync(server.dataDir), false);
  });
});
