// store-memory next to the floor (a plain Map + core's codec, doing the same work) and
// the peers users pick instead: express-session's MemoryStore and memorystore 1.6.8,
// through their own callback APIs (promisified). Plus scaling rows: listByUser and
// cleanupExpired at 1k vs 100k total sessions.
import { decodeRecord, encodeRecord, generateSessionId, tenantId } from '@sessionkit/core';
import { MemorySessionStore } from '@sessionkit/store-memory';
import session from 'express-session';
import createMemoryStore from 'memorystore';
import {
  callback as cb,
  compare,
  expressSession,
  opsPerSec,
  sessionRecord as record,
  sampleMetadata,
  scaling,
  settings,
} from '../harness.mjs';

const STORE = 'memory';
const HOUR = 3_600_000;
const POPULATION = 10_000; // sessions read by get/touch
const BOUND = 100_000; // every store's size limit during create runs
const UNBOUNDED_BYTES = 1024 * 1024 * 1024; // store-memory's maxBytes: never the bound that bites here
const USERS = 2_000; // users of the get/touch population (5 sessions each)
const NEW_USERS = 2_000; // users the create runs spread their sessions over
const tenant = tenantId('acme');

/**
 * The floor: a Map of encoded records plus a per-user Map of id Sets, no abstraction and
 * no validation. Bounded like the others: past BOUND it drops the oldest record (FIFO,
 * remembering each record's user key so that no decode is needed).
 */
class MapBaseline {
  records = new Map(); // id -> [encoded record, user key]
  users = new Map();
  fifo = undefined;
  create(rec) {
    const id = generateSessionId();
    const key = `${rec.tenantId.length}:${rec.tenantId}${rec.userId}`;
    this.records.set(id, [encodeRecord({ ...rec, id }), key]);
    let set = this.users.get(key);
    if (!set) {
      set = new Set();
      this.users.set(key, set);
    }
    set.add(id);
    if (this.records.size > BOUND) {
      // One persistent iterator: a fresh keys().next() would skip every deleted slot.
      this.fifo ??= this.records.keys();
      let next = this.fifo.next();
      if (next.done) {
        this.fifo = this.records.keys();
        next = this.fifo.next();
      }
      const oldest = next.value;
      const oldKey = this.records.get(oldest)[1];
      this.records.delete(oldest);
      const owner = this.users.get(oldKey);
      owner.delete(oldest);
      if (owner.size === 0) this.users.delete(oldKey);
    }
    return id;
  }
  get(id, now) {
    const entry = this.records.get(id);
    if (entry === undefined) return null;
    const rec = decodeRecord(entry[0]);
    if (rec.expiresAt.getTime() <= now) throw new Error('expired');
    return rec;
  }
  touch(id, now) {
    const rec = this.get(id, now);
    rec.lastActivityAt = new Date(now);
    this.records.get(id)[0] = encodeRecord(rec);
  }
  listByUser(userId, tenant, now) {
    const set = this.users.get(`${tenant.length}:${tenant}${userId}`);
    if (!set) return [];
    const out = [];
    for (const id of set) {
      const rec = decodeRecord(this.records.get(id)[0]);
      if (rec.expiresAt.getTime() > now) out.push(rec);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

async function setup() {
  const metadata = sampleMetadata();
  const now = Date.now();
  // Bounded by count like the peers: maxBytes set well above what BOUND sessions take.
  const store = new MemorySessionStore({ maxSessions: BOUND, maxBytes: UNBOUNDED_BYTES });
  const base = new MapBaseline();
  const express = new session.MemoryStore();
  const MemoryStore = createMemoryStore(session);
  const memorystore = new MemoryStore({ max: BOUND });
  const storeIds = [];
  const baseIds = [];
  const peerIds = [];
  for (let i = 0; i < POPULATION; i++) {
    const userId = `user-${i % USERS}`;
    storeIds.push(await store.create(record('', userId, now, metadata)));
    baseIds.push(base.create(record('', userId, now, metadata)));
    const sid = generateSessionId();
    peerIds.push(sid);
    const sess = expressSession(metadata, userId);
    await cb((done) => express.set(sid, sess, done));
    await cb((done) => memorystore.set(sid, sess, done));
  }
  return { metadata, store, base, express, memorystore, storeIds, baseIds, peerIds };
}

export async function run() {
  const s = await setup();
  const { metadata, store, base, express, memorystore } = s;
  // Creates spread over NEW_USERS users (5 sessions each per 10 000 creates), as logins
  // are: one user with 100 000 sessions would only measure maxSessionsPerUser.
  const createNow = Date.now();
  const createRecords = Array.from({ length: NEW_USERS }, (_, u) => record('', `user-new-${u}`, createNow, metadata));
  const createSessions = Array.from({ length: NEW_USERS }, (_, u) => expressSession(metadata, `user-new-${u}`));
  const touchSession = expressSession(metadata, 'user-0');
  let expressCreated = 0;

  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'create',
      concurrency,
      subject: (i) => store.create(createRecords[i % NEW_USERS]),
      references: [
        { name: 'Map + codec', fn: async (i) => base.create(createRecords[i % NEW_USERS]) },
        {
          name: 'express-session MemoryStore',
          fn: (i) => {
            // express-session's MemoryStore has no bound: drop it at the same size as the others.
            if (++expressCreated % BOUND === 0) express.sessions = Object.create(null);
            return cb((done) => express.set(generateSessionId(), createSessions[i % NEW_USERS], done));
          },
        },
        {
          name: 'memorystore 1.6.8',
          fn: (i) => cb((done) => memorystore.set(generateSessionId(), createSessions[i % NEW_USERS], done)),
        },
      ],
    });
  }
  // The create runs evicted some of the populations: rebuild them for the reads.
  const r = await setup();
  await store.close();
  memorystore.stopInterval();

  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'get',
      concurrency,
      subject: (i) => r.store.get(r.storeIds[i % POPULATION]),
      references: [
        { name: 'Map + codec', fn: async (i) => r.base.get(r.baseIds[i % POPULATION], Date.now()) },
        {
          name: 'express-session MemoryStore',
          fn: (i) => cb((done) => r.express.get(r.peerIds[i % POPULATION], done)),
        },
        { name: 'memorystore 1.6.8', fn: (i) => cb((done) => r.memorystore.get(r.peerIds[i % POPULATION], done)) },
      ],
    });
  }
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'touch',
      concurrency,
      subject: (i) => r.store.touch(r.storeIds[i % POPULATION]),
      references: [
        { name: 'Map + codec', fn: async (i) => r.base.touch(r.baseIds[i % POPULATION], Date.now()) },
        {
          name: 'express-session MemoryStore',
          fn: (i) => cb((done) => r.express.touch(r.peerIds[i % POPULATION], touchSession, done)),
        },
        {
          name: 'memorystore 1.6.8',
          fn: (i) => cb((done) => r.memorystore.touch(r.peerIds[i % POPULATION], touchSession, done)),
        },
      ],
    });
  }
  // Neither peer can list a user's sessions (only all(), which reads every session).
  for (const concurrency of [1, 64]) {
    await compare({
      store: STORE,
      op: 'listByUser (5 sessions)',
      concurrency,
      subject: (i) => r.store.listByUser(`user-${i % USERS}`, tenant),
      references: [
        { name: 'Map + codec', fn: async (i) => r.base.listByUser(`user-${i % USERS}`, tenant, Date.now()) },
      ],
    });
  }
  await r.store.close();
  r.memorystore.stopInterval();

  await scalingRows(metadata);
}

/** A store holding `total` sessions of other users plus one user with 5 sessions. */
async function populated(total, metadata, clock) {
  const store = new MemorySessionStore({
    maxSessions: Number.POSITIVE_INFINITY,
    maxBytes: Number.POSITIVE_INFINITY,
    clock: () => clock.now,
  });
  const now = clock.now;
  for (let i = 0; i < total; i++) {
    const rec = record('', `filler-${i}`, now, metadata);
    rec.expiresAt = new Date(now + HOUR + i); // spread over total ms of expiry buckets
    await store.create(rec);
  }
  for (let i = 0; i < 5; i++) await store.create(record('', 'the-user', now, metadata));
  return store;
}

const EXPIRING = 1_000;

const CLEANUP_CALLS = 25;

/**
 * cleanupExpired calls per second (only the calls are timed), each removing EXPIRING
 * sessions created just before among the store's live ones.
 */
async function cleanupRate(store, clock, metadata) {
  let spent = 0;
  let calls = 0;
  while (calls < CLEANUP_CALLS) {
    const now = clock.now;
    for (let i = 0; i < EXPIRING; i++) {
      const rec = record('', `short-${i % 100}`, now, metadata);
      rec.expiresAt = new Date(now + 1 + i); // spread over one second
      await store.create(rec);
    }
    clock.now += 2_000;
    const start = performance.now();
    const removed = await store.cleanupExpired();
    spent += performance.now() - start;
    calls++;
    if (removed !== EXPIRING) throw new Error(`cleanupExpired removed ${removed}, expected ${EXPIRING}`);
  }
  return (calls * 1000) / spent;
}

async function scalingRows(metadata) {
  const SMALL = 1_000;
  const LARGE = 100_000;
  const clock = { now: Date.now() };
  const small = await populated(SMALL, metadata, clock);
  const large = await populated(LARGE, metadata, clock);
  const list = [[], []];
  const clean = [[], []];
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // Short alternating samples, twice as many as the compare() rounds: the medians then
  // shrug off the bursts of load other processes put on a shared machine.
  const rounds = Math.max(5, settings.rounds * 2 + 1);
  const durationMs = settings.durationMs / 2;
  for (let round = 0; round < rounds; round++) {
    list[0].push(await opsPerSec(() => small.listByUser('the-user', tenant), { durationMs }));
    list[1].push(await opsPerSec(() => large.listByUser('the-user', tenant), { durationMs }));
    clean[0].push(await cleanupRate(small, clock, metadata));
    clean[1].push(await cleanupRate(large, clock, metadata));
  }
  scaling({
    store: STORE,
    op: 'listByUser (5 sessions)',
    small: median(list[0]),
    large: median(list[1]),
    smallLabel: '1k total',
    largeLabel: '100k total',
  });
  scaling({
    store: STORE,
    op: `cleanupExpired (${EXPIRING} expired)`,
    small: median(clean[0]),
    large: median(clean[1]),
    smallLabel: '1k live',
    largeLabel: '100k live',
  });
  await small.close();
  await large.close();
}
