// sessionkit quick start: login on two devices, list a user's sessions, touch and
// extend, expiry, and "log out everywhere", printed as it happens.
//
//   npm run demo                          (store-memory, nothing else needed)
//   npm run demo -- --store=redis         (REDIS_URL, default redis://127.0.0.1:6379)
//   npm run demo -- --store=postgres      (DATABASE_URL, or pg's PGHOST/PGUSER/... defaults)
//   npm run demo -- --store=memcached     (MEMCACHED_SERVERS, default 127.0.0.1:11211)
//   npm run demo -- --store=redis-cluster (REDIS_CLUSTER_NODES, default 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002)
import { SessionError, tenantId } from '@sessionkit/core';

const MINUTE = 60_000;
const storeName = (process.argv.find((a) => a.startsWith('--store=')) ?? '--store=memory').slice(8);

// A clock we can fast-forward, so the demo shows expiry without waiting 30 minutes.
let offset = 0;
const clock = () => Date.now() + offset;
const fastForward = (ms) => {
  offset += ms;
};

async function openStore() {
  if (storeName === 'memory') {
    const { MemorySessionStore } = await import('@sessionkit/store-memory');
    return { store: new MemorySessionStore({ clock, maxSessions: 10_000 }), done: async () => {} };
  }
  if (storeName === 'redis') {
    const { Redis } = await import('ioredis');
    const { RedisSessionStore } = await import('@sessionkit/store-redis');
    const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    await client.connect();
    return { store: new RedisSessionStore({ client, prefix: 'sessionkit-demo:', clock }), done: () => client.quit() };
  }
  if (storeName === 'postgres') {
    const pg = await import('pg');
    const { PostgresSessionStore } = await import('@sessionkit/store-postgres');
    const pool = new pg.default.Pool({ connectionString: process.env.DATABASE_URL });
    const store = new PostgresSessionStore({ pool, table: 'sessionkit_demo', clock });
    await store.migrate();
    return { store, done: () => pool.end() };
  }
  if (storeName === 'redis-cluster') {
    const { Cluster } = await import('ioredis');
    const { RedisSessionStore } = await import('@sessionkit/store-redis');
    const nodes = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002')
      .split(',')
      .map((hostPort) => {
        const at = hostPort.lastIndexOf(':');
        return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
      });
    const client = new Cluster(nodes, {
      enableOfflineQueue: false,
      redisOptions: { enableOfflineQueue: false },
      lazyConnect: true,
    });
    await client.connect();
    return { store: new RedisSessionStore({ client, prefix: 'sessionkit-demo:', clock }), done: () => client.quit() };
  }
  if (storeName === 'memcached') {
    const memjs = await import('memjs');
    const { MemcachedSessionStore } = await import('@sessionkit/store-memcached');
    const client = memjs.default.Client.create(process.env.MEMCACHED_SERVERS ?? '127.0.0.1:11211', {
      timeout: 1,
      retries: 0,
      logger: { log() {} },
    });
    return {
      store: new MemcachedSessionStore({ client, prefix: 'sessionkit-demo:', clock }),
      done: () => client.quit(),
    };
  }
  throw new Error(`unknown --store=${storeName} (memory, redis, redis-cluster, postgres or memcached)`);
}

const say = (text) => console.log(`  ${text}`);
const step = (text) => console.log(`\n${text}`);
const when = (date) => date.toISOString().slice(11, 19);

function login(userId, tenant, device, minutes = 30) {
  const now = clock();
  return {
    id: '',
    userId,
    tenantId: tenant,
    transactionId: `login-${device}`,
    factorsUsed: ['password', 'totp'],
    assuranceLevel: 2,
    metadata: { device },
    createdAt: new Date(now),
    expiresAt: new Date(now + minutes * MINUTE),
    lastActivityAt: new Date(now),
  };
}

const { store, done } = await openStore();
console.log(`sessionkit quick start on ${store.constructor.name}`);
try {
  const acme = tenantId('acme');
  const globex = tenantId('globex');

  step('1. Ada signs in on her laptop and her phone (tenant acme); a different Ada signs in at globex');
  const laptop = await store.create(login('ada', acme, 'laptop'));
  fastForward(1000);
  const phone = await store.create(login('ada', acme, 'phone', 10));
  await store.create(login('ada', globex, 'desktop'));
  say(`laptop session id ${laptop.slice(0, 12)}… (${laptop.length} characters, 256 random bits)`);
  say(`phone  session id ${phone.slice(0, 12)}…`);

  step("2. Listing Ada's sessions in acme (globex's Ada is a different user)");
  for (const s of await store.listByUser('ada', acme)) {
    say(`${s.metadata.device.padEnd(7)} created ${when(s.createdAt)}, expires ${when(s.expiresAt)}`);
  }

  step('3. Five minutes later she uses the laptop: touch records activity, extend slides the expiry');
  fastForward(5 * MINUTE);
  await store.touch(laptop);
  await store.extend(laptop, 30 * MINUTE);
  const fresh = await store.get(laptop);
  say(`laptop last active ${when(fresh.lastActivityAt)}, now expires ${when(fresh.expiresAt)}`);

  step('4. Six more minutes pass: the phone session (10 minutes) has expired');
  fastForward(6 * MINUTE);
  try {
    await store.get(phone);
  } catch (error) {
    if (!SessionError.isInstance(error)) throw error;
    say(`get(phone) rejected ${error.code}: ${error.message}`);
  }
  try {
    await store.extend(phone, 30 * MINUTE);
  } catch (error) {
    say(`extend(phone) rejected ${error.code}: an expired session is never revived`);
  }
  say(`listByUser now shows ${(await store.listByUser('ada', acme)).length} session (the laptop)`);

  step('5. Bad input is rejected with the field named');
  try {
    await store.create({ ...login('', acme, 'x') });
  } catch (error) {
    say(`${error.code}: ${error.message}`);
  }

  step('6. Ada clicks "log out everywhere" in acme');
  const removed = await store.deleteByUser('ada', acme);
  say(`deleteByUser removed ${removed} live session(s)`);
  say(`get(laptop) → ${JSON.stringify(await store.get(laptop))}`);
  say(`globex's Ada still has ${(await store.listByUser('ada', globex)).length} session`);

  step('7. Housekeeping');
  fastForward(60 * MINUTE);
  say(`cleanupExpired removed ${await store.cleanupExpired()} expired session(s)`);
  console.log('\nDone.');
} finally {
  await store.close();
  await done();
}
