// store-redis next to raw ioredis issuing the same minimal commands (GET for get; the
// same kind of Lua script for create, touch and listByUser, plus the bare SETRANGE floor)
// and next to connect-redis 8.1.0 over ioredis (get/set/touch). Plus a scaling row:
// listByUser of one user at 1k vs 100k total sessions. One real redis-server on loopback;
// every client is an ioredis client with enableOfflineQueue: false.
import { createHash, createHmac } from 'node:crypto';
import { tenantId } from '@sessionkit/core';
import { RedisSessionStore } from '@sessionkit/store-redis';
// The record layout (header offsets, JSON offset) the store and its Lua scripts use.
import {
  EXPIRES_AT,
  header,
  jsonOf,
  LAST_ACTIVITY_AT,
  pad,
  recordValue,
  TIME_WIDTH,
} from '@sessionkit/store-redis/layout';
import { startRedis } from '@sessionkit/test-servers';
import { RedisStore } from 'connect-redis';
import { Redis } from 'ioredis';
import { compare, expressSession, opsPerSec, sampleMetadata, scaling, sessionRecord, settings } from '../harness.mjs';

const STORE = 'redis';
const HOUR = 3_600_000;
const POPULATION = 10_000; // sessions read by get/touch
const USERS = 2_000; // 5 sessions each
const tenant = tenantId('acme');

// What a hand-written raw implementation of the same layout runs: touch checks existence
// and expiry and patches lastActivityAt; create writes the record (SET NX PXAT) and the
// user index atomically; list reads the index and each record. (The store's scripts add
// the deadline check, pruning and exact index-TTL upkeep.)
const RAW_TOUCH = `
local e = redis.call('GETRANGE', KEYS[1], ${EXPIRES_AT}, ${EXPIRES_AT + TIME_WIDTH - 1})
if e == '' then return 'N' end
if tonumber(e) <= tonumber(ARGV[1]) then return 'X' end
redis.call('SETRANGE', KEYS[1], ${LAST_ACTIVITY_AT}, ARGV[2])
return 'OK'`;
const RAW_CREATE = `
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3], 'NX') then return 'C' end
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
if redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT') == 0 then redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'NX') end
return 'OK'`;
const RAW_LIST = `
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local out = {}
for i = 1, #live do
  local v = redis.call('GET', live[i])
  if v then out[#out + 1] = v end
end
return out`;

// The store's key layout (its README): on a single Redis a generated id carries no tag, so
// its record key's slot tag is a hash of the id; an index key's tag is keyed with the secret.
const b64 = (digest) => digest.toString('base64url').slice(0, 4);
const recordKey = (prefix, id) => `${prefix}s:{${b64(createHash('sha256').update(`i${id}`).digest())}}${id}`;
const indexKey = (prefix, secret, t, u) =>
  `${prefix}u:{${b64(createHmac('sha256', secret).update(`u${t.length}:${t}${u}`).digest())}}${t.length}:${t}${u}`;

export async function run() {
  const server = await startRedis();
  const options = { enableOfflineQueue: false, lazyConnect: true };
  const storeClient = new Redis(server.url, options);
  const rawClient = new Redis(server.url, options);
  const peerClient = new Redis(server.url, options);
  await Promise.all([storeClient.connect(), rawClient.connect(), peerClient.connect()]);
  try {
    const metadata = sampleMetadata();
    const store = new RedisSessionStore({ client: storeClient, prefix: 'bench:' });
    const peer = new RedisStore({ client: peerClient, prefix: 'cr:' });
    rawClient.defineCommand('rawTouch', { numberOfKeys: 1, lua: RAW_TOUCH });
    rawClient.defineCommand('rawCreate', { numberOfKeys: 2, lua: RAW_CREATE });
    rawClient.defineCommand('rawList', { numberOfKeys: 1, lua: RAW_LIST });

    // Population: the store's sessions, and the same ids in connect-redis.
    const now = Date.now();
    const ids = [];
    for (let i = 0; i < POPULATION; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: 200 }, (_, k) =>
          store.create(sessionRecord('', `user-${(i + k) % USERS}`, now, metadata)),
        ),
      );
      ids.push(...batch);
    }
    const keys = ids.map((id) => recordKey('bench:', id));
    const secret = Buffer.from(await rawClient.get('bench:k'));
    const indexKeys = Array.from({ length: USERS }, (_, u) => indexKey('bench:', secret, tenant, `user-${u}`));
    if ((await rawClient.exists(keys[0], indexKeys[0])) !== 2) throw new Error('bench: key layout out of date');
    for (let i = 0; i < POPULATION; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id) => peer.set(id, expressSession(metadata, 'u'))));
    }
    const pick = (i) => i % POPULATION;

    const ops = {
      get: {
        subject: (i) => store.get(ids[pick(i)]),
        references: [
          {
            name: 'raw ioredis GET + JSON.parse',
            fn: async (i) => JSON.parse(jsonOf(await rawClient.get(keys[pick(i)]))),
          },
          { name: 'connect-redis get', fn: (i) => peer.get(ids[pick(i)]) },
        ],
      },
      create: {
        subject: (i) => store.create(sessionRecord('', `new-${i % USERS}`, Date.now(), metadata)),
        references: [
          {
            name: 'raw ioredis EVALSHA (SET NX + index)',
            fn: (i) => {
              const t = Date.now();
              const id = `raw${i}-${t}`;
              const r = sessionRecord('', `new-${i % USERS}`, t, metadata);
              const value = recordValue(
                `${header(t + HOUR, t, t)}${JSON.stringify({ ...r, id })}`,
                `raw:u:new-${i % USERS}`,
              );
              return rawClient.rawCreate(`raw:s:${id}`, `raw:u:new-${i % USERS}`, value, t + HOUR, t + 2 * HOUR);
            },
          },
          { name: 'connect-redis set', fn: (i) => peer.set(`new-${i}`, expressSession(metadata, `new-${i % USERS}`)) },
        ],
      },
      touch: {
        subject: (i) => store.touch(ids[pick(i)]),
        references: [
          {
            name: 'raw ioredis EVALSHA (check + SETRANGE)',
            fn: (i) => {
              const t = Date.now();
              return rawClient.rawTouch(keys[pick(i)], t, pad(t));
            },
          },
          {
            name: 'raw ioredis SETRANGE (no checks)',
            fn: (i) => rawClient.setrange(keys[pick(i)], LAST_ACTIVITY_AT, pad(Date.now())),
          },
          { name: 'connect-redis touch', fn: (i) => peer.touch(ids[pick(i)], expressSession(metadata, 'u')) },
        ],
      },
      listByUser: {
        subject: (i) => store.listByUser(`user-${i % USERS}`, tenant),
        references: [
          {
            name: 'raw ioredis EVALSHA (index + GETs) + JSON.parse',
            fn: async (i) => {
              const out = await rawClient.rawList(indexKeys[i % USERS], Date.now());
              return out.map((v) => JSON.parse(jsonOf(v)));
            },
          },
        ],
      },
    };
    for (const [op, spec] of Object.entries(ops)) {
      for (const concurrency of [1, 64]) {
        await compare({ store: STORE, op, concurrency, subject: spec.subject, references: spec.references });
      }
    }

    // Scaling: listByUser of one user (5 sessions) with 1k vs 100k sessions in Redis.
    const listers = await scalingRun(storeClient, metadata);
    scaling({ store: STORE, op: 'listByUser', concurrency: 1, ...listers });
  } finally {
    storeClient.disconnect();
    rawClient.disconnect();
    peerClient.disconnect();
    await server.stop();
  }
}

async function scalingRun(client, metadata) {
  const measure = async (total) => {
    await client.flushall();
    const store = new RedisSessionStore({ client, prefix: 'scale:' });
    const now = Date.now();
    for (let i = 0; i < total; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, total - i) }, (_, k) =>
          store.create(sessionRecord('', `s-${(i + k) % (total / 5)}`, now, metadata)),
        ),
      );
    }
    const users = total / 5;
    const samples = [];
    for (let r = 0; r < settings.rounds; r++) {
      samples.push(await opsPerSec((i) => store.listByUser(`s-${(i * 7919) % users}`, tenant), { concurrency: 1 }));
    }
    return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  };
  const small = await measure(1_000);
  const large = await measure(100_000);
  return { small, large, smallLabel: '1k sessions', largeLabel: '100k sessions' };
}
