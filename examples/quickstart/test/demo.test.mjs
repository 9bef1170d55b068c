// Runs the quick-start demo (`npm run demo -- --store=...`) as a user would and checks
// what it prints: on store-memory, and on memcached and a 3-master Redis Cluster started
// here on free loopback ports (@sessionkit/test-servers; each stops what it started).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startMemcached, startRedisCluster } from '@sessionkit/test-servers';

const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.mjs');
const run = promisify(execFile);

async function demo(args, env = {}) {
  const { stdout } = await run(process.execPath, [main, ...args], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return stdout;
}

function assertWalkthrough(out, storeClass, store) {
  assert.match(out, new RegExp(`^sessionkit quick start on ${storeClass}$`, 'm'));
  assert.match(out, /laptop session id \S+… \(\d+ characters, 256 random bits\)/);
  assert.match(out, /^ {2}laptop {2}created \d\d:\d\d:\d\d, expires \d\d:\d\d:\d\d$/m);
  assert.match(out, /^ {2}phone {3}created /m);
  assert.match(out, new RegExp(`get\\(phone\\) rejected EXPIRED: \\[sessionkit/${store}\\] get:`));
  assert.match(out, /extend\(phone\) rejected EXPIRED/);
  assert.match(out, /listByUser now shows 1 session \(the laptop\)/);
  assert.match(out, new RegExp(`INVALID: \\[sessionkit/${store}\\] create: record\\.userId must not be empty`));
  assert.match(out, /deleteByUser removed 1 live session\(s\)/);
  assert.match(out, /get\(laptop\) → null/);
  assert.match(out, /globex's Ada still has 1 session/);
  assert.match(out, /cleanupExpired removed \d+ expired session\(s\)/);
  assert.match(out, /\nDone\.\n$/);
}

describe('npm run demo', () => {
  it('--store=memory (the default) walks through every step', async () => {
    assertWalkthrough(await demo([]), 'MemorySessionStore', 'memory');
    assert.match(await demo(['--store=memory']), /cleanupExpired removed 1 expired session\(s\)/);
  });

  it('an unknown store names the ones there are', async () => {
    await assert.rejects(demo(['--store=mongo']), (error) => {
      assert.match(error.stderr, /unknown --store=mongo \(memory, redis, redis-cluster, postgres or memcached\)/);
      return true;
    });
  });

  describe('--store=memcached', () => {
    let server;
    before(async () => {
      server = await startMemcached();
    });
    after(() => server?.stop());
    it('walks through every step against MEMCACHED_SERVERS', async () => {
      assertWalkthrough(
        await demo(['--store=memcached'], { MEMCACHED_SERVERS: server.server }),
        'MemcachedSessionStore',
        'memcached',
      );
    });
  });

  describe('--store=redis-cluster', () => {
    let cluster;
    before(async () => {
      cluster = await startRedisCluster();
    });
    after(() => cluster?.stop());
    it('walks through every step against REDIS_CLUSTER_NODES', async () => {
      const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
      assertWalkthrough(
        await demo(['--store=redis-cluster'], { REDIS_CLUSTER_NODES: nodes }),
        'RedisSessionStore',
        'redis',
      );
    });
  });
});
