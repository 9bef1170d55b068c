// store-memcached on a pool of three memcached servers, next to raw memjs doing the same
// minimal work (one memjs client each, same options) and connect-memjs 0.2.1 (an
// express-session store over memjs) through its own callback API.
//
//   get         store.get            | raw: client.get + core decodeRecord + expiry check
//   touch       store.touch          | raw: client.get + decode + new lastActivityAt + encode + client.set
//                                    |      (the read-modify-write a touch of a JSON record needs)
//   create      store.create         | raw: core encodeRecord + client.add (no user index)
//   listByUser  store.listByUser     | raw: client.get of the index + one client.get per session,
//               (5 sessions a user)  |      concurrently (memjs has no multi-get) + decode + sort
//
// connect-memjs: get = its get (JSON.parse); create = its set (JSON.stringify + set); it has
// no touch and no per-user listing.
import { compareSessions, decodeRecord, encodeRecord, generateSessionId, tenantId } from '@sessionkit/core';
import { MemcachedSessionStore } from '@sessionkit/store-memcached';
import { startMemcached } from '@sessionkit/test-servers';
import connectMemjs from 'connect-memjs';
import session from 'express-session';
import memjs from 'memjs';
import { callback as cb, compare, expressSession, sessionRecord as record, sampleMetadata } from '../harness.mjs';

const STORE = 'memcached';
const HOUR = 3_600_000;
const POPULATION = 10_000; // sessions read by get and touch
const USERS = 2_000; // listed users, 5 sessions each
const PER_USER = 5;
const tenant = tenantId('acme');
const quiet = { log() {} };

function makeClient(list) {
  return memjs.Client.create(list, { timeout: 1, retries: 1, logger: quiet });
}

const ttl = (rec) => Math.ceil((rec.expiresAt.getTime() + HOUR - Date.now()) / 1000);

/** Raw memjs: the same commands' worth of work without the store around it. */
function rawClient(client, prefix) {
  const key = (id) => `${prefix}s:${id}`;
  const indexKey = (user) => `${prefix}u:${user}`;
  const read = async (id) => {
    const { value } = await client.get(key(id));
    if (value === null) return null;
    const r = decodeRecord(value.toString('utf8'));
    if (r.expiresAt.getTime() <= Date.now()) throw new Error('expired');
    return r;
  };
  return {
    key,
    indexKey,
    get: read,
    async touch(id) {
      const r = await read(id);
      if (r === null) throw new Error('missing');
      r.lastActivityAt = new Date();
      await client.set(key(id), encodeRecord(r), { expires: ttl(r) });
    },
    async create(rec) {
      const r = { ...rec, id: generateSessionId() };
      if (!(await client.add(key(r.id), encodeRecord(r), { expires: ttl(r) }))) throw new Error('conflict');
      return r.id;
    },
    async listByUser(user) {
      const { value } = await client.get(indexKey(user));
      if (value === null) return [];
      const ids = value
        .toString('utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.slice(line.indexOf('\t') + 1));
      const records = await Promise.all(ids.map(read));
      return records.filter((r) => r !== null && r.userId === user).sort(compareSessions);
    },
  };
}

export async function run() {
  const servers = [];
  const clients = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached({ memoryMb: 256 }));
    const list = servers.map((s) => s.server).join(',');
    const storeClient = makeClient(list);
    const rawMemjs = makeClient(list);
    const cmClient = makeClient(list);
    clients.push(storeClient, rawMemjs, cmClient);

    const store = new MemcachedSessionStore({ client: storeClient, prefix: 'sk:' });
    const raw = rawClient(rawMemjs, 'raw:');
    const MemcachedStore = connectMemjs(session);
    const cm = new MemcachedStore({ client: cmClient, prefix: 'cm:' });

    // Population: the same sessions under each contender's keys.
    const now = Date.now();
    const metadata = sampleMetadata();
    const ids = [];
    const cmIds = [];
    for (let i = 0; i < POPULATION; i += 100) {
      const batch = [];
      for (let k = i; k < i + 100; k++) {
        const rec = record('', `get-user-${k}`, now, metadata);
        batch.push(
          store.create(rec).then(async (id) => {
            ids[k] = id;
            await rawMemjs.set(raw.key(id), encodeRecord({ ...rec, id }), { expires: 2 * 3600 });
            const sid = generateSessionId();
            await cb((done) => cm.set(sid, expressSession(metadata, rec.userId), done));
            cmIds[k] = sid;
          }),
        );
      }
      await Promise.all(batch);
    }
    const users = [];
    for (let u = 0; u < USERS; u += 50) {
      const batch = [];
      for (let k = u; k < u + 50; k++) {
        const user = `list-user-${k}`;
        users[k] = user;
        batch.push(
          (async () => {
            const made = [];
            for (let s = 0; s < PER_USER; s++) {
              const rec = record('', user, now + s, metadata);
              made.push({ ...rec, id: await store.create(rec) });
            }
            // the raw contender reads an index of the same shape under its own keys
            await Promise.all(made.map((r) => rawMemjs.set(raw.key(r.id), encodeRecord(r), { expires: 2 * 3600 })));
            const index = `1${made.map((r) => `\n${r.expiresAt.getTime()}\t${r.id}`).join('')}`;
            await rawMemjs.set(raw.indexKey(user), index, { expires: 2 * 3600 });
          })(),
        );
      }
      await Promise.all(batch);
    }
    // sanity: every contender reads what it wrote
    if ((await store.get(ids[0]))?.id !== ids[0]) throw new Error('store get failed');
    if ((await raw.get(ids[0]))?.id !== ids[0]) throw new Error('raw get failed');
    if (!(await cb((done) => cm.get(cmIds[0], done)))) throw new Error('connect-memjs get failed');
    if ((await store.listByUser(users[0], tenant)).length !== PER_USER) throw new Error('store list failed');
    if ((await raw.listByUser(users[0])).length !== PER_USER) throw new Error('raw list failed');

    /** Throws when evicted data would make a row measure empty reads. */
    const intact = async () => {
      for (let k = 0; k < USERS; k += 97) {
        if ((await store.listByUser(users[k], tenant)).length !== PER_USER) throw new Error('store list lost data');
        if ((await raw.listByUser(users[k])).length !== PER_USER) throw new Error('raw list lost data');
      }
      for (let k = 0; k < POPULATION; k += 499) if ((await store.get(ids[k])) === null) throw new Error('lost data');
    };
    const pick = (i) => ids[(i * 7919) % POPULATION];
    const pickUser = (i) => users[(i * 7919) % USERS];
    let createUser = 0;
    const fresh = () => record('', `create-user-${createUser++ % 50_000}`, Date.now(), metadata);

    for (const concurrency of [1, 64]) {
      await compare({
        store: STORE,
        op: 'get',
        concurrency,
        subject: (i) => store.get(pick(i)),
        references: [
          { name: 'raw memjs get + decode', fn: (i) => raw.get(pick(i)) },
          { name: 'connect-memjs 0.2.1 get', fn: (i) => cb((done) => cm.get(cmIds[(i * 7919) % POPULATION], done)) },
        ],
      });
      await compare({
        store: STORE,
        op: 'touch',
        concurrency,
        subject: (i) => store.touch(pick(i)),
        references: [{ name: 'raw memjs get + set', fn: (i) => raw.touch(pick(i)) }],
      });
      await compare({
        store: STORE,
        op: 'listByUser (5 sessions)',
        concurrency,
        subject: (i) => store.listByUser(pickUser(i), tenant),
        references: [{ name: 'raw memjs index get + 5 gets', fn: (i) => raw.listByUser(pickUser(i)) }],
      });
      // memcached evicts under memory pressure, and the store prunes index entries of
      // evicted records: listByUser runs before create fills the servers, and the rows
      // count only if every contender still reads a full user then.
      await intact();
      await compare({
        store: STORE,
        op: 'create',
        concurrency,
        subject: () => store.create(fresh()),
        references: [
          { name: 'raw memjs add (no index)', fn: () => raw.create(fresh()) },
          {
            name: 'connect-memjs 0.2.1 set (no index)',
            fn: () => cb((done) => cm.set(generateSessionId(), expressSession(metadata, 'u'), done)),
          },
        ],
      });
    }
  } finally {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
  }
}
