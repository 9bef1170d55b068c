/**
 * RedisSessionStore: the class and its public methods, in the order of the contract. The
 * concerns live beside it: options (./options.ts), key layout (./keys.ts), record layout
 * and codec (./layout.ts, ./record.ts), Lua scripts (./scripts/), the script runner
 * (./runner.ts), the tag secret (./user-tags.ts), Cluster pointers (./pointers.ts) and
 * cleanupExpired's walk (./cleanup.ts).
 */
import {
  ALL_CAPABILITIES,
  checkExtendArgs,
  checkId,
  checkLive,
  checkRecord,
  checkUpdateTarget,
  checkUserArgs,
  compareSessions,
  conflict,
  generateSessionId,
  guard,
  instrumentStore,
  notFound,
  type RecordRules,
  readClock,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import type { Redis } from 'ioredis';
import { cleanupIndexes } from './cleanup.js';
import { GetBatch } from './get-batch.js';
import type { KeyLayout } from './keys.js';
import { pad, recordValue } from './layout.js';
import { type RedisSessionStoreOptions, readOptions, STORE } from './options.js';
import { byId, createThroughPointer, dropPointers } from './pointers.js';
import { decodeValue, recordHead } from './record.js';
import { type Reply, ScriptRunner } from './runner.js';
import { CREATE, DELETE, DELETE_USER, EXTEND, GET, LIST, TOUCH, UPDATE } from './scripts/index.js';
import { TagSecret, type UserTags } from './user-tags.js';

/** Entries of one user's index that one listByUser or deleteByUser script call handles. */
const USER_PAGE = 500;

/**
 * Sessions on Redis or Redis Cluster through a caller-owned ioredis client.
 *
 * Each session is one string (a fixed header of expiresAt, lastActivityAt and createdAt
 * that touch and extend patch in place, then the record as core's JSON; see ./layout.ts)
 * expiring at `expiresAt + expiredRetentionMs`; each (tenant, user) has a sorted set of
 * its record keys scored by expiresAt. Every write is one Lua script over one hash slot,
 * so record and index change atomically, on Cluster too. See the README for the key layout.
 *
 * Each public method turns anything thrown on its way (a metadata getter or a clock that
 * throws, a driver error) into a SessionError: STORAGE unless it already is one.
 */
export class RedisSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;

  readonly #runner: ScriptRunner;
  /** Single Redis only: gets batched per event-loop turn (./get-batch.ts). */
  readonly #reads: GetBatch;
  readonly #keys: KeyLayout;
  readonly #secret: TagSecret;
  readonly #rules: RecordRules;
  readonly #retentionMs: number;
  readonly #maxSessionsPerUser: number;
  readonly #cluster: boolean;

  constructor(options: RedisSessionStoreOptions) {
    const settings = readOptions(options);
    this.#rules = settings.rules;
    this.#retentionMs = settings.expiredRetentionMs;
    this.#maxSessionsPerUser = settings.maxSessionsPerUser;
    this.#cluster = settings.cluster;
    this.#keys = settings.keys;
    this.#runner = new ScriptRunner(settings);
    this.#reads = new GetBatch(settings.client as Redis, this.#runner);
    this.#secret = new TagSecret(this.#runner, settings.keys, settings.tagSecret);
    instrumentStore(this, STORE, options.telemetry);
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      return await this.#create(record, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async #create(record: SessionRecord, start: number): Promise<string> {
    const runner = this.#runner;
    let slow = false;
    let tags = this.#secret.known;
    if (tags === undefined) {
      slow = true;
      tags = await runner.bounded('create', start, true, Promise.resolve(this.#secret.tags('create', 0)));
    }
    for (;;) {
      let generated = false;
      const current: UserTags = tags;
      const {
        record: valid,
        now,
        encoded,
      } = checkRecord(this.#rules, record, {
        operation: 'create',
        // On Cluster a generated id starts with the (tenant, user) tag, so its record lands in
        // the user's slot (core calls this once they are valid). A single Redis has no slots:
        // its ids are only the random part, so they do not show which belong to one user.
        generateId: (owner) => {
          generated = true;
          return this.#cluster ? current.of(owner.tenantId, owner.userId) + generateSessionId() : generateSessionId();
        },
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      const e = valid.expiresAt.getTime();
      const pxat = e + this.#retentionMs;
      const latest = this.#secret.tags('create', pxat);
      if (latest !== current) {
        slow = true;
        tags = await runner.bounded('create', start, true, Promise.resolve(latest));
        // The secret changed (its key was lost and made again): tag and id again.
        if (tags !== current) continue;
      }
      const tag = current.of(valid.tenantId, valid.userId);
      const id = valid.id;
      const ik = this.#keys.index(tag, valid.tenantId, valid.userId);
      const head = recordHead(valid, encoded);
      const args = (deadline: number, pointer: string, pointerKey: string) => [
        deadline,
        recordValue(head, ik, pointer, pointerKey),
        e,
        pxat,
        now,
        this.#retentionMs,
        this.#maxSessionsPerUser,
      ];
      const reply = await runner.write('create', start, slow, (deadline) => {
        const sent =
          generated || !this.#cluster
            ? runner.script('create', CREATE, [this.#keys.record(id), ik], args(deadline, '', ''))
            : createThroughPointer(runner, this.#keys, id, tag, ik, pxat, deadline, args);
        // Evicted caller-chosen ids on Cluster: their pointers go too.
        return sent.then((r) =>
          Array.isArray(r) && r[0] === 'OK' && r.length > 1 ? dropPointers(runner, 'create', r, 1).then(() => 'OK') : r,
        );
      });
      if (reply === 'OK') return id;
      if (reply === 'C') throw conflict(STORE);
      if (reply === 'D') throw runner.deadlineMissed('create');
      throw runner.unexpected('create', reply);
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    try {
      // A generated id needs one pattern test (validity and tag); any other string the full checks.
      let key = typeof id === 'string' ? this.#keys.generatedRecord(id) : undefined;
      if (key === undefined) {
        if (!checkId(this.#rules, 'get', id)) return null;
        if (!this.#cluster) key = this.#keys.record(id);
      }
      const runner = this.#runner;
      let work: Promise<Reply>;
      if (this.#cluster) work = byId(runner, this.#keys, 'get', GET, id, []);
      else if (runner.client.status !== 'ready') throw runner.notReady('get');
      else work = this.#reads.get(key as string);
      const value = await runner.timed('get', work);
      if (value === null || value === undefined) return null;
      const record = decodeValue(value, 'get');
      if (record.id !== id) throw runner.unexpected('get', `record of id ${JSON.stringify(record.id)}`);
      checkLive(STORE, 'get', record.expiresAt.getTime(), readClock(this.#rules));
      return record;
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  update(record: SessionRecord): Promise<void> {
    return guard(STORE, 'update', () => this.#update(record, Date.now()));
  }

  async #update(record: SessionRecord, start: number): Promise<void> {
    const {
      record: valid,
      now,
      encoded,
    } = checkRecord(this.#rules, record, { operation: 'update', output: 'encoded' });
    if (!checkId(this.#rules, 'update', valid.id)) throw notFound(STORE, 'update');
    const e = valid.expiresAt.getTime();
    const { tags, slow } = await this.#secret.tagsFor('update', start, e + this.#retentionMs);
    const ik = this.#keys.index(tags.of(valid.tenantId, valid.userId), valid.tenantId, valid.userId);
    const head = recordHead(valid, encoded);
    const reply = await this.#runner.write('update', start, slow, (deadline) =>
      byId(this.#runner, this.#keys, 'update', UPDATE, valid.id, [
        deadline,
        now,
        head,
        e,
        valid.createdAt.getTime(),
        ik,
        this.#retentionMs,
        e + this.#retentionMs,
      ]),
    );
    if (Array.isArray(reply) && reply[0] === 'I') {
      // userId, tenantId (both in the index key) or createdAt differ: name the field.
      const stored = decodeValue(reply[1], 'update');
      checkUpdateTarget(
        this.#rules,
        { ...stored, createdAtMs: stored.createdAt.getTime(), expiresAtMs: stored.expiresAt.getTime() },
        valid,
        now,
      );
    }
    this.#runner.expectOk('update', reply);
  }

  delete(id: string): Promise<void> {
    return guard(STORE, 'delete', async () => {
      if (!checkId(this.#rules, 'delete', id)) return;
      const runner = this.#runner;
      const reply = await runner.write('delete', Date.now(), false, (deadline) =>
        byId(runner, this.#keys, 'delete', DELETE, id, [deadline, this.#retentionMs]).then((r) => {
          // On Cluster, a caller-chosen id's pointer goes once its record is gone.
          if (Array.isArray(r) && r[0] === 'OK' && r[1] !== '')
            return dropPointers(runner, 'delete', r, 1).then(() => r);
          return r;
        }),
      );
      if (reply === 'N' || (Array.isArray(reply) && reply[0] === 'OK')) return;
      runner.expectOk('delete', reply);
    });
  }

  /**
   * One script call per page of USER_PAGE index entries, until the index is empty. A
   * deleteByUser that rejects (timeout, Redis down) may have removed some pages already.
   */
  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return guard(STORE, 'deleteByUser', () => this.#deleteByUser(userId, tenantId, Date.now()));
  }

  async #deleteByUser(userId: string, tenantId: TenantId, start: number): Promise<number> {
    checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
    const now = readClock(this.#rules);
    const { tags, slow } = await this.#secret.tagsFor('deleteByUser', start, 0);
    const ik = this.#keys.index(tags.of(tenantId, userId), tenantId, userId);
    const runner = this.#runner;
    return runner.write('deleteByUser', start, slow, async (deadline) => {
      let count = 0;
      for (;;) {
        const r = await runner.script('deleteByUser', DELETE_USER, [ik], [deadline, now, USER_PAGE, this.#retentionMs]);
        if (r === 'D') throw runner.deadlineMissed('deleteByUser');
        if (!Array.isArray(r) || typeof r[0] !== 'number') throw runner.unexpected('deleteByUser', r);
        if (r.length > 2) await dropPointers(runner, 'deleteByUser', r, 2);
        count += r[0];
        if (r[1] !== 1) return count;
      }
    });
  }

  extend(id: string, durationMs: number): Promise<void> {
    return guard(STORE, 'extend', () => this.#extend(id, durationMs, Date.now()));
  }

  async #extend(id: string, durationMs: number, start: number): Promise<void> {
    const { named, durationMs: duration } = checkExtendArgs(this.#rules, id, durationMs);
    if (!named) throw notFound(STORE, 'extend');
    const now = readClock(this.#rules);
    const life = this.#rules.maxLifetimeMs ?? -1;
    // The index may now expire later: the tag secret's key must outlive it.
    const until = now + duration + this.#retentionMs;
    const { slow } = await this.#secret.tagsFor('extend', start, until);
    const reply = await this.#runner.write('extend', start, slow, (deadline) =>
      byId(this.#runner, this.#keys, 'extend', EXTEND, id, [deadline, now, duration, life, this.#retentionMs, until]),
    );
    this.#runner.expectOk('extend', reply);
  }

  async touch(id: string): Promise<void> {
    try {
      const key = typeof id === 'string' ? this.#keys.generatedRecord(id) : undefined;
      if (key === undefined && !checkId(this.#rules, 'touch', id)) throw notFound(STORE, 'touch');
      // Whole ms: a clock with a fraction would overrun the header's width (expiry compares
      // the same: an integer expiresAt <= now exactly when <= floor(now)).
      const at = pad(Math.floor(readClock(this.#rules)));
      const start = Date.now();
      const runner = this.#runner;
      const deadline = this.#cluster ? undefined : runner.freshDeadline(start);
      let work: Promise<Reply>;
      if (deadline !== undefined) {
        // The hot path (single Redis, clock offset fresh): one EVALSHA, no intermediate arrays.
        if (runner.client.status !== 'ready') throw runner.notReady('touch');
        work = runner.scriptOnKey('touch', TOUCH, key ?? this.#keys.record(id), deadline, at);
      } else {
        work = runner.withDeadline('touch', start, (d) => byId(runner, this.#keys, 'touch', TOUCH, id, [d, at]));
      }
      runner.expectOk('touch', await runner.timed('touch', work));
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  /** One script call per page of USER_PAGE unexpired index entries. */
  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    return guard(STORE, 'listByUser', () => this.#listByUser(userId, tenantId, Date.now()));
  }

  async #listByUser(userId: string, tenantId: TenantId, start: number): Promise<SessionRecord[]> {
    checkUserArgs(this.#rules, 'listByUser', userId, tenantId);
    const now = readClock(this.#rules);
    const { tags, slow } = await this.#secret.tagsFor('listByUser', start, 0);
    const ik = this.#keys.index(tags.of(tenantId, userId), tenantId, userId);
    const runner = this.#runner;
    const values = await runner.write('listByUser', start, slow, (deadline) => {
      const values: Reply[] = [];
      const next = (score: string, member: string): Promise<Reply[]> =>
        runner
          .script('listByUser', LIST, [ik], [deadline, now, this.#retentionMs, USER_PAGE, score, member])
          .then((r) => {
            if (!Array.isArray(r) || r.length < 2) throw runner.unexpected('listByUser', r);
            for (let i = 2; i < r.length; i++) values.push(r[i]);
            if (r[0] === -1) return values;
            // The next page starts after the last (score, member) this one read.
            return next(String(r[0]), String(r[1]));
          });
      return next('', '');
    });
    const out: SessionRecord[] = [];
    const seen = new Set<string>();
    for (const value of values) {
      const record = decodeValue(value, 'listByUser');
      // Pages are separate calls: a session moved by a concurrent extend may show twice.
      if (record.expiresAt.getTime() > now && !seen.has(record.id)) {
        seen.add(record.id);
        out.push(record);
      }
    }
    return out.sort(compareSessions);
  }

  /** Each backend call is bounded by operationTimeoutMs (see ./cleanup.ts). */
  cleanupExpired(): Promise<number> {
    return guard(STORE, 'cleanupExpired', () =>
      cleanupIndexes(this.#runner, this.#keys, readClock(this.#rules), this.#retentionMs),
    );
  }

  /** Stops the store's timeout timer (once operations in flight settle or time out). Never closes or quits the caller's client. */
  async close(): Promise<void> {
    // gets waiting for the end of this turn go out now, as if close() had come after them
    this.#reads.flush();
    this.#runner.stop();
  }
}
