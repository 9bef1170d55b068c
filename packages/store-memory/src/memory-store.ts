// MemorySessionStore: the class and its public methods, in the contract's terms. What is
// kept of a session, and how a record is taken in, is in stored.ts (its metadata on the
// tape of tape.ts), the indexes in table.ts, user-index.ts and expiry-index.ts, who makes
// way at a bound in eviction.ts, the options in options.ts.
import {
  ALL_CAPABILITIES,
  BackgroundErrors,
  type CheckRecordOptions,
  checkExtendArgs,
  checkId,
  checkLive,
  checkUpdateTarget,
  checkUserArgs,
  conflict,
  expired,
  extendedExpiry,
  generateSessionId,
  guard,
  instrumentStore,
  invalidInput,
  MAX_DATE_MS,
  notFound,
  type RecordRules,
  readClock,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
  unrefTimer,
} from '@sessionkit/core';
import { makeRoom, makeRoomForUser, type StoreBounds } from './eviction.js';
import { type MemorySessionStoreOptions, readOptions, STORE } from './options.js';
import { type Entry, intake, toRecord } from './stored.js';
import { SessionTable } from './table.js';
import { fresh } from './tape.js';
import { byCreatedThenId, userCost } from './user-index.js';

/** listByUser and deleteByUser handle at most this many of a user's sessions before yielding. */
const USER_PAGE = 1000;
/** cleanupExpired removes at most this many sessions before yielding to the event loop. */
const CLEANUP_BATCH = 10_000;

/** What {@link MemorySessionStore.stats} reports. */
export interface MemorySessionStoreStats {
  /** Sessions held, expired ones included until they are removed. */
  sessions: number;
  /** (tenant, user) pairs with at least one session held. */
  users: number;
  /** Bytes accounted for the sessions and user indexes held (bounded by `maxBytes`). */
  bytes: number;
  /** Non-empty one-second expiry buckets. */
  expiryBuckets: number;
  /** Sessions evicted so far to stay within `maxSessions` or `maxBytes` (expired ones removed on the way not counted). */
  evicted: number;
  /** Sessions removed so far by creates of users at `maxSessionsPerUser`. */
  evictedPerUser: number;
  /** Sessions examined so far by expiry sweeps (cleanupExpired, the timer and the bounds). */
  sweepExamined: number;
  /** Keys in the expiry heap, stale ones included: at most 2 × expiryBuckets + 1024. */
  expiryHeapKeys: number;
}

/** Set when checkRecord had {@link issueId} make the id of the record being created. */
let issued = false;

/**
 * Makes a new session's id (core's 256 random bits): one flat string of the store's own,
 * so create keeps it without a copy.
 */
function issueId(): string {
  issued = true;
  return generateSessionId();
}

/** core's checks for create and update: the metadata kept by the store's own walk (fast) or copied by core (full). */
const CREATE_FAST: CheckRecordOptions = { operation: 'create', generateId: issueId, customIds: true, output: 'shared' };
const CREATE_FULL: CheckRecordOptions = { operation: 'create', generateId: issueId, customIds: true, output: 'copy' };
const UPDATE_FAST: CheckRecordOptions = { operation: 'update', output: 'shared' };
const UPDATE_FULL: CheckRecordOptions = { operation: 'update', output: 'copy' };

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * An in-process {@link SessionStore}: the embedded default. Sessions live in this
 * process only (they are lost on restart and not shared between processes).
 *
 * - A `Map` from id to the stored session: its fields as plain values, its metadata on
 *   one flat array or as JSON text (reads copy or parse a fresh copy), its times as numbers.
 * - A per-(tenant, user) index (`Map` tenant → `Map` user → index), so listByUser and
 *   deleteByUser cost what that user has, and no two tenants or users can collide.
 * - An expiry index of one-second buckets ordered by a min-heap, so cleanupExpired
 *   costs what has expired (plus the sessions expiring within the current second).
 * - Memory bounded by `maxBytes` and `maxSessions`, each user by `maxSessionsPerUser`,
 *   and an optional unref'd background sweep.
 *
 * Every method runs synchronously to completion inside (cleanupExpired between batches
 * of 10 000 removals), so each one's effect is atomic with respect to the others.
 */
export class MemorySessionStore implements SessionStore {
  /** Everything: create with custom ids, list, revoke, revokeUser, mutate, cleanup. */
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;

  readonly #rules: RecordRules;
  readonly #bounds: StoreBounds;
  readonly #maxSessionsPerUser: number;
  readonly #table = new SessionTable();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #backgroundErrors: BackgroundErrors;
  readonly #removedByStore: (reason: 'max_sessions_per_user', count: number) => void;
  #timerSweepRunning = false;
  #evicted = 0;
  #evictedPerUser = 0;

  /** @throws SessionError `INVALID` naming the option when an option is bad. */
  constructor(options: MemorySessionStoreOptions = {}) {
    const settings = readOptions(options);
    this.#rules = settings.rules;
    this.#bounds = { maxSessions: settings.maxSessions, maxBytes: settings.maxBytes };
    this.#maxSessionsPerUser = settings.maxSessionsPerUser;
    this.#backgroundErrors = new BackgroundErrors(STORE, options.onError);
    if (settings.cleanupIntervalMs !== undefined) {
      this.#timer = setInterval(() => this.#timerSweep(), settings.cleanupIntervalMs);
      unrefTimer(this.#timer);
    }
    this.#removedByStore = instrumentStore(this, STORE, options.telemetry);
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      issued = false;
      const { v, s } = intake(this.#rules, record, CREATE_FAST, CREATE_FULL);
      const r = v.record;
      const id = issued ? r.id : fresh(r.id); // a caller's id is copied, as every string kept
      const table = this.#table;
      if (table.sessions.has(id)) throw conflict(STORE);
      // The user's own bound first: their soonest-expiring sessions make way.
      const owner = table.users.get(r.tenantId, r.userId);
      if (owner !== undefined && owner.size >= this.#maxSessionsPerUser) {
        const removed = makeRoomForUser(table, owner, this.#maxSessionsPerUser);
        this.#evictedPerUser += removed;
        this.#removedByStore('max_sessions_per_user', removed);
      }
      this.#evicted += makeRoom(table, this.#bounds, v.now, s.cost + userCost(r.tenantId, r.userId), owner);
      table.insert(
        id,
        r.tenantId,
        r.userId,
        owner,
        s,
        r.createdAt.getTime(),
        r.expiresAt.getTime(),
        r.lastActivityAt.getTime(),
      );
      return id;
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'get', id);
      // Only well-formed ids are ever stored, so a malformed string simply misses.
      const e = this.#table.sessions.get(id);
      if (e === undefined) return null;
      if (e.expiresAt <= readClock(this.#rules)) throw expired(STORE, 'get');
      return toRecord(e);
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  update(record: SessionRecord): Promise<void> {
    return guard(STORE, 'update', () => {
      const { v, s } = intake(this.#rules, record, UPDATE_FAST, UPDATE_FULL);
      const r = v.record;
      const table = this.#table;
      const e = table.sessions.get(r.id);
      checkUpdateTarget(this.#rules, e, r, v.now); // NOT_FOUND, EXPIRED, then the immutable fields
      const target = e as Entry;
      const grows = s.cost - target.cost;
      if (grows > 0 && table.bytes() + grows > this.#bounds.maxBytes) {
        // Make room for the larger record without evicting this session: take it out,
        // make room as a create would, put it back (all in this synchronous step).
        const { id, tenantId, userId, createdAt, owner } = target;
        table.remove(target);
        this.#evicted += makeRoom(table, this.#bounds, v.now, s.cost + userCost(tenantId, userId), owner);
        table.insert(id, tenantId, userId, owner, s, createdAt, r.expiresAt.getTime(), r.lastActivityAt.getTime());
        return;
      }
      table.restore(target, s);
      target.lastActivityAt = r.lastActivityAt.getTime();
      table.setExpiry(target, r.expiresAt.getTime());
    });
  }

  delete(id: string): Promise<void> {
    return guard(STORE, 'delete', () => {
      if (typeof id !== 'string') checkId(this.#rules, 'delete', id);
      const e = this.#table.sessions.get(id);
      if (e !== undefined) this.#table.remove(e);
    });
  }

  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return guard(STORE, 'deleteByUser', async () => {
      checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
      const now = readClock(this.#rules);
      const owner = this.#table.users.get(tenantId, userId);
      if (owner === undefined) return 0;
      let count = 0;
      let removed = 0;
      // A user past USER_PAGE sessions (maxSessionsPerUser raised) is removed a page at a
      // time, letting other work run between pages; sessions the user gains meanwhile go too.
      for (let e = owner.heap.at(-1); e !== undefined; e = owner.heap.at(-1)) {
        if (e.expiresAt > now) count++;
        this.#table.remove(e); // the heap's last entry: no reordering
        if (++removed % USER_PAGE === 0 && owner.size > 0) await nextTurn();
      }
      return count;
    });
  }

  extend(id: string, durationMs: number): Promise<void> {
    return guard(STORE, 'extend', () => {
      const args = checkExtendArgs(this.#rules, id, durationMs);
      if (!args.named) throw notFound(STORE, 'extend');
      const e = this.#table.sessions.get(id);
      if (e === undefined) throw notFound(STORE, 'extend'); // before the clock, as every store
      const now = readClock(this.#rules);
      checkLive(STORE, 'extend', e.expiresAt, now);
      const target = e;
      const expiresAt = Math.trunc(extendedExpiry(this.#rules, target.createdAt, now, args.durationMs));
      if (!(expiresAt <= MAX_DATE_MS)) {
        throw invalidInput(STORE, 'extend', 'durationMs', `${args.durationMs} puts expiresAt past the largest Date`);
      }
      target.lastActivityAt = Math.trunc(now);
      this.#table.setExpiry(target, expiresAt);
    });
  }

  async touch(id: string): Promise<void> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'touch', id);
      const e = this.#table.sessions.get(id);
      if (e === undefined) throw notFound(STORE, 'touch'); // before the clock, as every store
      const now = readClock(this.#rules);
      checkLive(STORE, 'touch', e.expiresAt, now);
      e.lastActivityAt = Math.trunc(now);
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  cleanupExpired(): Promise<number> {
    return guard(STORE, 'cleanupExpired', async () => {
      const now = readClock(this.#rules);
      let total = 0;
      for (;;) {
        const removed = this.#table.sweep(now, CLEANUP_BATCH);
        total += removed;
        if (removed < CLEANUP_BATCH) return total;
        // A large backlog: let other work run between batches (each batch is atomic).
        await nextTurn();
      }
    });
  }

  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    return guard(STORE, 'listByUser', async () => {
      checkUserArgs(this.#rules, 'listByUser', userId, tenantId);
      const now = readClock(this.#rules);
      const owner = this.#table.users.get(tenantId, userId);
      if (owner === undefined) return [];
      const live: Entry[] = [];
      for (const e of owner.heap) if (e.expiresAt > now) live.push(e);
      live.sort(byCreatedThenId);
      if (live.length <= USER_PAGE) return live.map(toRecord);
      // Past USER_PAGE sessions (maxSessionsPerUser raised): the records, the costly part,
      // are copied a page at a time with other work running between pages; a session
      // removed meanwhile is left out, one changed meanwhile is read as it is now.
      const out: SessionRecord[] = [];
      for (let i = 0; i < live.length; i++) {
        const current = this.#table.sessions.get((live[i] as Entry).id);
        if (current !== undefined && current.owner.userId === userId && current.owner.tenantId === tenantId) {
          out.push(toRecord(current));
        }
        if ((i + 1) % USER_PAGE === 0) await nextTurn();
      }
      return out;
    });
  }

  /** Stops the background sweep, if any. The sessions held stay usable. Idempotent. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Counts for monitoring (a rising `evicted` means `maxBytes` or `maxSessions` is too low). */
  stats(): MemorySessionStoreStats {
    const table = this.#table;
    return {
      sessions: table.sessions.size,
      users: table.users.count,
      bytes: table.bytes(),
      expiryBuckets: table.expiry.buckets,
      evicted: this.#evicted,
      evictedPerUser: this.#evictedPerUser,
      sweepExamined: table.expiry.examined,
      expiryHeapKeys: table.expiry.keys,
    };
  }

  #timerSweep(): void {
    if (this.#timerSweepRunning) return;
    this.#timerSweepRunning = true;
    this.cleanupExpired().then(
      () => {
        this.#timerSweepRunning = false;
        this.#backgroundErrors.succeeded();
      },
      (error: unknown) => {
        // A throwing clock, say: reported; the next tick tries again.
        this.#timerSweepRunning = false;
        this.#backgroundErrors.report(error, 'cleanupExpired');
      },
    );
  }
}
