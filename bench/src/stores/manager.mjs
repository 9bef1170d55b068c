// @sessionkit/manager: validate of a fresh session next to one raw store.get of the same
// record (alternating), on store-memory and store-redis (one real redis-server on
// loopback); and the store writes per session over a simulated hour of one request per
// second with the defaults (the target is at most 3600 / touchAfterMs in seconds).
import { tenantId } from '@sessionkit/core';
import { SessionManager } from '@sessionkit/manager';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import { compare, rows, sampleMetadata } from '../harness.mjs';

const POPULATION = 1_000;
const tenant = tenantId('acme');

async function population(manager) {
  const metadata = sampleMetadata();
  const tokens = [];
  const handles = [];
  for (let i = 0; i < POPULATION; i++) {
    const { token, session } = await manager.issue({
      userId: `user-${i % 200}`,
      tenantId: tenant,
      factorsUsed: ['password'],
      assuranceLevel: 1,
      metadata,
    });
    tokens.push(token);
    handles.push(session.handle);
  }
  return { tokens, handles };
}

// With the default hash cache (a token seen again skips SHA-256), and with it off (every
// validate hashes: the cost of a token's first request in a process).
async function validateVsGet(name, store, concurrencies) {
  const manager = new SessionManager({ store });
  const uncached = new SessionManager({ store, hashCacheSize: 0 });
  const { tokens, handles } = await population(manager);
  for (const concurrency of concurrencies) {
    await compare({
      store: `manager/${name}`,
      op: 'validate',
      concurrency,
      subject: (i) => manager.validate(tokens[i % POPULATION]),
      references: [{ name: `${name} store.get`, fn: (i) => store.get(handles[i % POPULATION]) }],
    });
    await compare({
      store: `manager/${name}`,
      op: 'validate, hashCacheSize 0',
      concurrency,
      subject: (i) => uncached.validate(tokens[i % POPULATION]),
      references: [{ name: `${name} store.get`, fn: (i) => store.get(handles[i % POPULATION]) }],
    });
  }
}

/** Store writes of one session over an hour of one validate per second, with the defaults. */
async function writesPerHour() {
  let now = Date.now();
  const clock = () => now;
  const inner = new MemorySessionStore({ clock });
  let writes = 0;
  const counted = new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      if (['create', 'update', 'extend', 'touch', 'delete'].includes(String(key))) {
        return (...args) => {
          writes++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  const manager = new SessionManager({ store: counted, clock });
  const { token } = await manager.issue({ userId: 'ada', tenantId: tenant });
  const afterIssue = writes;
  for (let s = 1; s <= 3600; s++) {
    now += 1000;
    if ((await manager.validate(token)) === null) throw new Error(`session lost at ${s} s`);
  }
  const target = 3600 / (manager.touchAfterMs / 1000);
  const row = {
    store: 'manager/memory',
    op: 'store writes per session-hour (1 req/s, defaults)',
    concurrency: 1,
    opsPerSec: writes - afterIssue,
    reference: `target 3600 / touchAfter s`,
    referenceOpsPerSec: target,
    ratio: Number(((writes - afterIssue) / target).toFixed(2)),
  };
  rows().push(row);
  process.stderr.write(`  ${row.op}: ${row.opsPerSec} writes (+1 create), target <= ${target}\n`);
  await inner.close();
}

export async function run() {
  await writesPerHour();
  const memory = new MemorySessionStore();
  await validateVsGet('memory', memory, [1]);
  await memory.close();

  const server = await startRedis();
  const client = new Redis(server.url, { enableOfflineQueue: false, lazyConnect: true });
  await client.connect();
  try {
    const store = new RedisSessionStore({ client, prefix: 'benchmgr:' });
    await validateVsGet('redis', store, [1, 64]);
    await store.close();
  } finally {
    client.disconnect();
    await server.stop();
  }
}
