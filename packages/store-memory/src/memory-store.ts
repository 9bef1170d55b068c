import {
  ALL_CAPABILITIES,
  assertOptionsObject,
  checkDuration,
  checkId,
  checkImmutableFields,
  checkRecord,
  checkUserArgs,
  cloneJson,
  conflict,
  durationOption,
  expired,
  extendedExpiry,
  generateSessionId,
  type JsonValue,
  notFound,
  type RecordRules,
  readClock,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import { DEFAULT_MAX_SESSIONS, MAX_CLEANUP_INTERVAL_MS, type MemorySessionStoreOptions } from './options.js';

const STORE = 'memory';
/** Width of one expiry bucket: sessions are indexed by `floor(expiresAt / BUCKET_MS)`. */
const BUCKET_MS = 1000;
/** cleanupExpired removes at most this many sessions before yielding to the event loop. */
const CLEANUP_BATCH = 10_000;
/** Largest valid Date value in ms (ECMAScript's limit). */
const MAX_DATE_MS = 8.64e15;

/**
 * One stored session. Times are integer ms (exactly what the Dates handed out will
 * hold), so touch and extend change a number in place and the read path builds the
 * caller's copy without any JSON.
 */
class Entry {
  /** The expiry bucket holding this entry (null once removed). */
  bucket: Bucket | null = null;

  constructor(
    readonly id: string,
    readonly userId: string,
    readonly tenantId: TenantId,
    public transactionId: string,
    public factorsUsed: string[],
    public assuranceLevel: number,
    public metadata: JsonValue,
    readonly createdAt: number,
    public expiresAt: number,
    public lastActivityAt: number,
    /** The (tenant, user) index set this entry belongs to. */
    readonly owner: Set<Entry>,
  ) {}
}

/** The sessions whose expiresAt lies in [key * BUCKET_MS, (key + 1) * BUCKET_MS). */
class Bucket {
  readonly entries = new Set<Entry>();
  /** A lower bound of the entries' expiresAt (exact after a boundary scan). */
  min = Number.POSITIVE_INFINITY;
  #drain: Iterator<Entry> | undefined;

  constructor(readonly key: number) {}

  /**
   * The oldest entry, for a caller that removes it before asking again. One iterator is
   * kept across calls: a fresh `values().next()` would step over every slot deleted
   * since the Set last shrank, making a run of evictions from one bucket quadratic.
   */
  first(): Entry | undefined {
    this.#drain ??= this.entries.values();
    let next = this.#drain.next();
    if (next.done) {
      // Exhausted (only possible if entries were added after the last call): restart.
      this.#drain = this.entries.values();
      next = this.#drain.next();
    }
    return next.done ? undefined : next.value;
  }
}

/** A binary min-heap of bucket keys. Keys of removed buckets are dropped lazily. */
class KeyHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0] as number;
  }

  push(key: number): void {
    const items = this.items;
    let i = items.length;
    items.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as number;
      if (p <= key) break;
      items[i] = p;
      i = parent;
    }
    items[i] = key;
  }

  /** Replaces the contents with `keys` (each once): drops every stale key at once. */
  rebuild(keys: Iterable<number>): void {
    const items = this.items;
    items.length = 0;
    for (const key of keys) items.push(key);
    items.sort((a, b) => a - b); // a sorted array is a valid min-heap
  }

  pop(): void {
    const items = this.items;
    const last = items.pop() as number;
    const n = items.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (items[right] as number) < (items[left] as number) ? right : left;
      const c = items[child] as number;
      if (c >= last) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
  }
}

/** What {@link MemorySessionStore.stats} reports. */
export interface MemorySessionStoreStats {
  /** Sessions held, expired ones included until they are removed. */
  sessions: number;
  /** (tenant, user) pairs with at least one session held. */
  users: number;
  /** Non-empty one-second expiry buckets. */
  expiryBuckets: number;
  /** Sessions evicted so far to stay within `maxSessions` (expired ones removed on the way not counted). */
  evicted: number;
  /** Sessions examined so far by expiry sweeps (cleanupExpired, the timer and maxSessions). */
  sweepExamined: number;
  /** Keys in the expiry heap, stale ones included: at most 2 × expiryBuckets + 1024. */
  expiryHeapKeys: number;
}

function toRecord(e: Entry): SessionRecord {
  return {
    id: e.id,
    userId: e.userId,
    tenantId: e.tenantId,
    transactionId: e.transactionId,
    factorsUsed: e.factorsUsed.slice(),
    assuranceLevel: e.assuranceLevel,
    metadata: cloneJson(e.metadata),
    createdAt: new Date(e.createdAt),
    expiresAt: new Date(e.expiresAt),
    lastActivityAt: new Date(e.lastActivityAt),
  };
}

function byCreatedThenId(a: Entry, b: Entry): number {
  const t = a.createdAt - b.createdAt;
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * An in-process {@link SessionStore}: the embedded default. Sessions live in this
 * process only (they are lost on restart and not shared between processes).
 *
 * - A `Map` from id to the stored session, kept as objects: reads copy the record out
 *   (new Dates, arrays and metadata) and never parse JSON; writes copy it in.
 * - A per-(tenant, user) index (`Map` tenant → `Map` user → `Set`), so listByUser and
 *   deleteByUser cost what that user has, and no two tenants or users can collide.
 * - An expiry index of one-second buckets ordered by a min-heap, so cleanupExpired
 *   costs what has expired (plus the sessions expiring within the current second).
 * - Memory bounded by `maxSessions` (expired sessions removed first, then the ones
 *   expiring soonest are evicted), and an optional unref'd background sweep.
 *
 * Every method runs synchronously to completion inside (cleanupExpired between batches
 * of 10 000 removals), so each one's effect is atomic with respect to the others.
 */
export class MemorySessionStore implements SessionStore {
  /** Everything: create with custom ids, list, revoke, revokeUser, mutate, cleanup. */
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;

  readonly #rules: RecordRules;
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, Entry>();
  readonly #users = new Map<string, Map<string, Set<Entry>>>();
  readonly #buckets = new Map<number, Bucket>();
  readonly #keys = new KeyHeap();
  #timer: NodeJS.Timeout | undefined;
  #timerSweepRunning = false;
  #evicted = 0;
  #examined = 0;

  /** @throws SessionError `INVALID` naming the option when an option is bad. */
  constructor(options: MemorySessionStoreOptions = {}) {
    assertOptionsObject(STORE, options);
    this.#rules = resolveRecordRules(STORE, options);
    this.#maxSessions =
      options.maxSessions === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : durationOption(STORE, 'maxSessions', options.maxSessions, DEFAULT_MAX_SESSIONS);
    if (options.cleanupIntervalMs !== undefined) {
      const interval = durationOption(STORE, 'cleanupIntervalMs', options.cleanupIntervalMs, 0, {
        max: MAX_CLEANUP_INTERVAL_MS,
      });
      this.#timer = setInterval(() => this.#timerSweep(), interval);
      this.#timer.unref();
    }
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      const v = checkRecord(this.#rules, record, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'copy', // metadata checked, measured and copied in one walk
      });
      const r = v.record;
      if (this.#sessions.has(r.id)) throw conflict(STORE);
      if (this.#sessions.size >= this.#maxSessions) this.#makeRoom(v.now);
      const owner = this.#ownerSet(r.tenantId, r.userId);
      const e = new Entry(
        r.id,
        r.userId,
        r.tenantId,
        r.transactionId,
        r.factorsUsed, // a fresh array built by checkRecord
        r.assuranceLevel,
        r.metadata, // a private deep copy made by checkRecord
        r.createdAt.getTime(),
        r.expiresAt.getTime(),
        r.lastActivityAt.getTime(),
        owner,
      );
      this.#sessions.set(e.id, e);
      owner.add(e);
      this.#index(e);
      return e.id;
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'get', id);
      // Only well-formed ids are ever stored, so a malformed string simply misses.
      const e = this.#sessions.get(id);
      if (e === undefined) return null;
      if (e.expiresAt <= readClock(this.#rules)) throw expired(STORE, 'get');
      return toRecord(e);
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  async update(record: SessionRecord): Promise<void> {
    try {
      const v = checkRecord(this.#rules, record, { operation: 'update', output: 'copy' });
      const r = v.record;
      const e = this.#sessions.get(r.id);
      if (e === undefined) throw notFound(STORE, 'update');
      if (e.expiresAt <= v.now) throw expired(STORE, 'update');
      checkImmutableFields(
        this.#rules,
        { userId: e.userId, tenantId: e.tenantId, createdAt: new Date(e.createdAt) },
        r,
      );
      e.transactionId = r.transactionId;
      e.factorsUsed = r.factorsUsed;
      e.assuranceLevel = r.assuranceLevel;
      e.metadata = r.metadata;
      e.lastActivityAt = r.lastActivityAt.getTime();
      this.#setExpiry(e, r.expiresAt.getTime());
    } catch (error) {
      throw toStorageError(error, STORE, 'update');
    }
  }

  async delete(id: string): Promise<void> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'delete', id);
      const e = this.#sessions.get(id);
      if (e !== undefined) this.#remove(e);
    } catch (error) {
      throw toStorageError(error, STORE, 'delete');
    }
  }

  async deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    try {
      checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
      const now = readClock(this.#rules);
      const owner = this.#users.get(tenantId)?.get(userId);
      if (owner === undefined) return 0;
      let count = 0;
      for (const e of owner) {
        if (e.expiresAt > now) count++;
        this.#remove(e);
      }
      return count;
    } catch (error) {
      throw toStorageError(error, STORE, 'deleteByUser');
    }
  }

  async extend(id: string, durationMs: number): Promise<void> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'extend', id);
      const duration = checkDuration(this.#rules, durationMs);
      const e = this.#sessions.get(id);
      if (e === undefined) throw notFound(STORE, 'extend');
      const now = readClock(this.#rules);
      if (e.expiresAt <= now) throw expired(STORE, 'extend');
      const expiresAt = Math.trunc(extendedExpiry(this.#rules, e.createdAt, now, duration));
      if (!(expiresAt <= MAX_DATE_MS)) {
        throw new SessionError('INVALID', `durationMs ${duration} puts expiresAt past the largest Date`, {
          store: STORE,
          operation: 'extend',
          field: 'durationMs',
        });
      }
      e.lastActivityAt = Math.trunc(now);
      this.#setExpiry(e, expiresAt);
    } catch (error) {
      throw toStorageError(error, STORE, 'extend');
    }
  }

  async touch(id: string): Promise<void> {
    try {
      if (typeof id !== 'string') checkId(this.#rules, 'touch', id);
      const e = this.#sessions.get(id);
      if (e === undefined) throw notFound(STORE, 'touch');
      const now = readClock(this.#rules);
      if (e.expiresAt <= now) throw expired(STORE, 'touch');
      e.lastActivityAt = Math.trunc(now);
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  async cleanupExpired(): Promise<number> {
    try {
      const now = readClock(this.#rules);
      let total = 0;
      for (;;) {
        const removed = this.#sweep(now, CLEANUP_BATCH);
        total += removed;
        if (removed < CLEANUP_BATCH) return total;
        // A large backlog: let other work run between batches (each batch is atomic).
        await nextTurn();
      }
    } catch (error) {
      throw toStorageError(error, STORE, 'cleanupExpired');
    }
  }

  async listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    try {
      checkUserArgs(this.#rules, 'listByUser', userId, tenantId);
      const now = readClock(this.#rules);
      const owner = this.#users.get(tenantId)?.get(userId);
      if (owner === undefined) return [];
      const live: Entry[] = [];
      for (const e of owner) if (e.expiresAt > now) live.push(e);
      live.sort(byCreatedThenId);
      const out = new Array<SessionRecord>(live.length);
      for (let i = 0; i < live.length; i++) out[i] = toRecord(live[i] as Entry);
      return out;
    } catch (error) {
      throw toStorageError(error, STORE, 'listByUser');
    }
  }

  /** Stops the background sweep, if any. The sessions held stay usable. Idempotent. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Counts for monitoring (a rising `evicted` means `maxSessions` is too low). */
  stats(): MemorySessionStoreStats {
    let users = 0;
    for (const byUser of this.#users.values()) users += byUser.size;
    return {
      sessions: this.#sessions.size,
      users,
      expiryBuckets: this.#buckets.size,
      evicted: this.#evicted,
      sweepExamined: this.#examined,
      expiryHeapKeys: this.#keys.size,
    };
  }

  // --- internals: every one is synchronous ---

  #timerSweep(): void {
    if (this.#timerSweepRunning) return;
    this.#timerSweepRunning = true;
    this.cleanupExpired().then(
      () => {
        this.#timerSweepRunning = false;
      },
      () => {
        // A throwing clock: nothing to report to; the next tick tries again.
        this.#timerSweepRunning = false;
      },
    );
  }

  #ownerSet(tenant: string, user: string): Set<Entry> {
    let byUser = this.#users.get(tenant);
    if (byUser === undefined) {
      byUser = new Map();
      this.#users.set(tenant, byUser);
    }
    let owner = byUser.get(user);
    if (owner === undefined) {
      owner = new Set();
      byUser.set(user, owner);
    }
    return owner;
  }

  #index(e: Entry): void {
    const key = Math.floor(e.expiresAt / BUCKET_MS);
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = new Bucket(key);
      this.#buckets.set(key, b);
      const keys = this.#keys;
      keys.push(key);
      // Keys of emptied buckets leave the heap lazily, when they reach its top. Sessions
      // moved by extend without any sweep could pile them up: past twice the live
      // buckets, rebuild it from those (amortised O(log n) per push).
      if (keys.size > 2 * this.#buckets.size + 1024) keys.rebuild(this.#buckets.keys());
    }
    b.entries.add(e);
    if (e.expiresAt < b.min) b.min = e.expiresAt;
    e.bucket = b;
  }

  #unindex(e: Entry): void {
    const b = e.bucket;
    if (b === null) return;
    b.entries.delete(e);
    if (b.entries.size === 0) this.#buckets.delete(b.key); // its heap key goes lazily
    e.bucket = null;
  }

  #setExpiry(e: Entry, expiresAt: number): void {
    const b = e.bucket;
    e.expiresAt = expiresAt;
    if (b !== null && b.key === Math.floor(expiresAt / BUCKET_MS)) {
      if (expiresAt < b.min) b.min = expiresAt;
      return;
    }
    this.#unindex(e);
    this.#index(e);
  }

  #remove(e: Entry): void {
    this.#sessions.delete(e.id);
    this.#unindex(e);
    const owner = e.owner;
    owner.delete(e);
    if (owner.size === 0) {
      const byUser = this.#users.get(e.tenantId);
      if (byUser !== undefined && byUser.get(e.userId) === owner) {
        byUser.delete(e.userId);
        if (byUser.size === 0) this.#users.delete(e.tenantId);
      }
    }
  }

  /**
   * Removes sessions with expiresAt <= now, earliest buckets first, stopping after about
   * `limit` removals; returns how many it removed. Buckets entirely in the past are
   * removed without looking at expiry; only the bucket holding `now` is scanned, and
   * only when its lower bound says something in it has expired.
   */
  #sweep(now: number, limit: number): number {
    const keys = this.#keys;
    let removed = 0;
    while (keys.size > 0 && removed < limit) {
      const key = keys.peek();
      const b = this.#buckets.get(key);
      if (b === undefined) {
        keys.pop(); // a bucket emptied earlier
        continue;
      }
      if (key * BUCKET_MS > now) break; // nothing in it or later has expired
      if ((key + 1) * BUCKET_MS - 1 <= now) {
        // Every entry of this bucket has expired.
        for (let e = b.first(); e !== undefined; e = b.first()) {
          this.#examined++;
          this.#remove(e);
          if (++removed >= limit) break;
        }
        if (b.entries.size === 0) keys.pop();
        continue;
      }
      // The bucket holding `now`: some entries may have expired.
      if (b.min > now) break;
      let min = Number.POSITIVE_INFINITY;
      for (const e of b.entries) {
        this.#examined++;
        if (e.expiresAt <= now) {
          this.#remove(e);
          removed++;
        } else if (e.expiresAt < min) min = e.expiresAt;
      }
      b.min = min;
      break;
    }
    return removed;
  }

  /** Called by create at maxSessions: drop expired sessions, then evict the soonest to expire. */
  #makeRoom(now: number): void {
    this.#sweep(now, Number.POSITIVE_INFINITY);
    const keys = this.#keys;
    while (this.#sessions.size >= this.#maxSessions && keys.size > 0) {
      const b = this.#buckets.get(keys.peek());
      if (b === undefined) {
        keys.pop();
        continue;
      }
      this.#remove(b.first() as Entry);
      this.#evicted++;
    }
  }
}
