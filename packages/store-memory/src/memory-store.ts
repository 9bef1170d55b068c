import {
  ALL_CAPABILITIES,
  assertOptionsObject,
  BackgroundErrors,
  checkDuration,
  checkId,
  checkImmutableFields,
  checkRecord,
  checkUserArgs,
  conflict,
  durationOption,
  type EncodedRecord,
  expired,
  extendedExpiry,
  generateSessionId,
  instrumentStore,
  type JsonValue,
  maxSessionsPerUserOption,
  notFound,
  type RecordRules,
  readClock,
  rejectUnknownOptions,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
  unrefTimer,
} from '@sessionkit/core';
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_SESSIONS,
  KNOWN_OPTIONS,
  MAX_CLEANUP_INTERVAL_MS,
  type MemorySessionStoreOptions,
} from './options.js';

const STORE = 'memory';
/** Width of one expiry bucket: sessions are indexed by `floor(expiresAt / BUCKET_MS)`. */
const BUCKET_MS = 1000;
/** listByUser and deleteByUser handle at most this many of a user's sessions before yielding. */
const USER_PAGE = 1000;
/** cleanupExpired removes at most this many sessions before yielding to the event loop. */
const CLEANUP_BATCH = 10_000;
/** Largest valid Date value in ms (ECMAScript's limit). */
const MAX_DATE_MS = 8.64e15;

/**
 * One stored session. The fields a read hands out are kept as plain values: strings,
 * numbers, `factorsUsed` as an array (copied on read) and the metadata in one of two
 * forms, chosen per record by what it would take on the heap (see {@link stored}): on one
 * flat array (a tape, see {@link keep}) when that takes at most twice its JSON text plus
 * {@link KEPT_ALLOWANCE}, read by a copy; else as its JSON text (shapes such as
 * `[{},{},…]` that take far more as values than as text), read by a parse. Times are
 * integer ms kept as numbers (exactly what the Dates handed out will hold), so touch and
 * extend change a number in place.
 */
class Entry {
  /** The expiry bucket holding this entry (null once removed). */
  bucket: Bucket | null = null;
  /** Its position in its owner's eviction heap (-1 once removed). */
  slot = -1;
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  /** The metadata as kept values, or its JSON text when {@link metaIsText}. */
  meta: unknown;
  metaIsText: boolean;

  constructor(
    readonly id: string,
    /** The (tenant, user) index this entry belongs to. */
    readonly owner: UserIndex,
    s: Stored,
    /** Bytes accounted for this entry (see {@link stored}). */
    public cost: number,
    readonly createdAt: number,
    public expiresAt: number,
    public lastActivityAt: number,
  ) {
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }

  /** Replaces the stored fields (update). */
  set(s: Stored): void {
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }
}

/**
 * One (tenant, user) pair's sessions, kept as a binary min-heap in eviction order
 * (soonest expiresAt, then earliest createdAt, then smallest id), so the session a create
 * at maxSessionsPerUser removes is at the top, and the bytes they are accounted for.
 */
class UserIndex {
  /** The user's sessions; `heap[0]` is the one that goes first. */
  readonly heap: Entry[] = [];
  /** Sum of the entries' `cost`. */
  bytes = 0;
  constructor(
    readonly tenantId: TenantId,
    readonly userId: string,
    /** Bytes accounted for the index itself (see {@link userCost}). */
    readonly cost: number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** The session that goes first. */
  first(): Entry | undefined {
    return this.heap[0];
  }

  add(e: Entry): void {
    e.slot = this.heap.length;
    this.heap.push(e);
    this.#up(e.slot);
  }

  delete(e: Entry): void {
    const heap = this.heap;
    const i = e.slot;
    const last = heap.pop() as Entry;
    e.slot = -1;
    if (last === e) return;
    heap[i] = last;
    last.slot = i;
    this.#up(i);
    this.#down(last.slot);
  }

  /** After `e.expiresAt` changed. */
  moved(e: Entry): void {
    this.#up(e.slot);
    this.#down(e.slot);
  }

  #up(i: number): void {
    const heap = this.heap;
    const e = heap[i] as Entry;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!evictsBefore(e, p)) break;
      heap[i] = p;
      p.slot = i;
      i = parent;
    }
    heap[i] = e;
    e.slot = i;
  }

  #down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i] as Entry;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && evictsBefore(heap[right] as Entry, heap[left] as Entry) ? right : left;
      const c = heap[child] as Entry;
      if (!evictsBefore(c, e)) break;
      heap[i] = c;
      c.slot = i;
      i = child;
    }
    heap[i] = e;
    e.slot = i;
  }
}

/** The eviction order within one user: soonest expiresAt, then earliest createdAt, then smallest id. */
function evictsBefore(a: Entry, b: Entry): boolean {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt < b.expiresAt;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt;
  return a.id < b.id;
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

/**
 * Heap bytes of one entry besides its strings and kept values: the Entry object and its
 * boxed times, its slots in the id Map, the user's heap and the expiry bucket's Set (the heap
 * test checks that the accounting stays above what is really taken).
 */
const ENTRY_OVERHEAD = 400;
/** Heap bytes of one (tenant, user) index besides its two strings: the object, its Set and Map slots. */
const USER_OVERHEAD = 300;
/**
 * Metadata is kept as values when they cost at most twice its JSON text's length plus
 * KEPT_ALLOWANCE bytes (else as the text itself, one or two bytes a character): typical
 * metadata of up to a few KB is kept as values; large or densely nested metadata as text.
 */
const KEPT_ALLOWANCE = 2048;
/** On a tape (see {@link keep}), an object follows: its key count, then each key and value. */
const OBJECT = Object.freeze({});
/** On a tape, an array follows: its length, then each element. */
const ARRAY = Object.freeze({});
/** Bytes a string's characters may take: one each when ASCII, else two (UTF-16). */
function textBytes(text: string, ascii: boolean): number {
  return ascii ? text.length : 2 * text.length;
}

/** Accounted bytes of a (tenant, user) index (its strings counted as two bytes a character). */
function userCost(tenant: string, user: string): number {
  return USER_OVERHEAD + 2 * (tenant.length + user.length);
}

/** What {@link keep} spent so far and may spend, and the tape it writes. */
let spent = 0;
let budget = 0;
let wide = 1;
const tape: unknown[] = [];

/** Heap bytes of a string: a 16-byte header and its characters, rounded up to 8. */
function stringCost(s: string): number {
  return (16 + wide * s.length + 7) & ~7;
}

/**
 * Writes a freshly parsed JSON value onto `tape` in prefix order (an object as OBJECT, its
 * key count, then each key and value; an array as ARRAY, its length, then each element;
 * anything else as itself), so that the whole metadata is kept in one array however it
 * nests. Adds what that takes on the heap to `spent` (64-bit, pointer compression off: a
 * slot of 8 bytes an item, strings, and 16 bytes a number that is not a small integer);
 * false once past `budget`.
 */
function keep(v: unknown): boolean {
  if (typeof v === 'string') {
    spent += 8 + stringCost(v);
    tape.push(v);
    return true;
  }
  if (typeof v === 'number') {
    spent += (v | 0) === v && v < 0x40000000 && v >= -0x40000000 && (v !== 0 || 1 / v > 0) ? 8 : 24;
    tape.push(v);
    return true;
  }
  if (typeof v !== 'object' || v === null) {
    spent += 8; // true, false, null
    tape.push(v);
    return true;
  }
  if (Array.isArray(v)) {
    const n = v.length;
    spent += 16;
    tape.push(ARRAY, n);
    for (let i = 0; i < n; i++) if (!keep(v[i])) return false;
    return spent <= budget;
  }
  const keys = Object.keys(v);
  const n = keys.length;
  spent += 16;
  tape.push(OBJECT, n);
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    spent += 8 + stringCost(key); // counted in every session, though V8 often shares keys
    tape.push(key);
    if (!keep((v as Record<string, unknown>)[key])) return false;
  }
  return spent <= budget;
}

/** Where {@link unkeep} reads on the tape. */
let at = 0;

/** The JSON value that starts at `at` on a tape, as a fresh copy. */
function unkeep(t: readonly unknown[]): JsonValue {
  const x = t[at++];
  if (x === OBJECT) {
    const n = t[at++] as number;
    const o: Record<string, JsonValue> = {};
    for (let i = 0; i < n; i++) {
      const key = t[at++] as string;
      const value = unkeep(t);
      if (key === '__proto__') {
        Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
      } else o[key] = value;
    }
    return o;
  }
  if (x === ARRAY) {
    const n = t[at++] as number;
    const out: JsonValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = unkeep(t);
    return out;
  }
  return x as JsonValue;
}

/** A fresh copy of kept metadata. */
function copyKept(t: unknown): JsonValue {
  at = 0;
  return unkeep(t as readonly unknown[]);
}

interface Stored {
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  meta: unknown;
  metaIsText: boolean;
}

/**
 * What is kept of a validated record, and its accounted bytes. transactionId and
 * factorsUsed are core's checked copies (identifiers, at most a few hundred characters, kept
 * as id, userId and tenantId are). The metadata comes from parsing its slice of core's
 * encoding of the record (`{"v":1,…,"assuranceLevel":…,"metadata":…,"createdAt":…,…}`):
 * fresh strings, none of them a slice of the caller's. The fields before metadata are JSON
 * strings (every `"` in them escaped) or numbers, and those after it are numbers, so the
 * two markers can only be the field names.
 */
function stored(v: EncodedRecord): { s: Stored; cost: number } {
  const encoded = v.encoded;
  const r = v.record;
  const ascii = v.bytes === encoded.length; // UTF-8 bytes equal UTF-16 units only for ASCII
  wide = ascii ? 1 : 2;
  spent = 0;
  for (const f of r.factorsUsed) spent += 8 + stringCost(f);
  let cost = ENTRY_OVERHEAD + textBytes(r.id, ascii) + stringCost(r.transactionId) + 48 + spent;
  const metaAt = encoded.indexOf(',"metadata":');
  const metaText = encoded.slice(metaAt + 12, encoded.lastIndexOf(',"createdAt":'));
  spent = 0;
  budget = 2 * metaText.length + KEPT_ALLOWANCE;
  tape.length = 0;
  const fits = keep(JSON.parse(metaText));
  let meta: unknown;
  let metaIsText = false;
  if (fits) {
    meta = tape.slice(); // an array of exactly its length
    cost += 48 + spent;
  } else {
    const text = ` ${metaText}`; // JSON.parse skips the space
    text.charCodeAt(0); // flattens it now: no slice of `encoded` kept alive behind it
    meta = text;
    metaIsText = true;
    cost += textBytes(text, ascii);
  }
  tape.length = 0;
  const s: Stored = {
    transactionId: r.transactionId,
    factorsUsed: r.factorsUsed,
    assuranceLevel: r.assuranceLevel,
    meta,
    metaIsText,
  };
  return { s, cost };
}

function toRecord(e: Entry): SessionRecord {
  return {
    id: e.id,
    userId: e.owner.userId,
    tenantId: e.owner.tenantId,
    transactionId: e.transactionId,
    factorsUsed: e.factorsUsed.slice(),
    assuranceLevel: e.assuranceLevel,
    metadata: e.metaIsText ? (JSON.parse(e.meta as string) as JsonValue) : copyKept(e.meta), // a fresh copy for every read
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
  readonly #maxSessions: number;
  readonly #maxBytes: number;
  readonly #maxPerUser: number;
  readonly #sessions = new Map<string, Entry>();
  readonly #users = new Map<string, Map<string, UserIndex>>();
  readonly #buckets = new Map<number, Bucket>();
  readonly #keys = new KeyHeap();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #backgroundErrors: BackgroundErrors;
  readonly #removedByStore: (reason: 'max_sessions_per_user', count: number) => void;
  #timerSweepRunning = false;
  #userCount = 0;
  /** Sum of the entries' cost. */
  #entryBytes = 0;
  /** Sum of the user indexes' cost. */
  #userBytes = 0;
  #evicted = 0;
  #evictedPerUser = 0;
  #examined = 0;

  /** @throws SessionError `INVALID` naming the option when an option is bad. */
  constructor(options: MemorySessionStoreOptions = {}) {
    assertOptionsObject(STORE, options);
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
    this.#rules = resolveRecordRules(STORE, options);
    this.#maxSessions =
      options.maxSessions === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : durationOption(STORE, 'maxSessions', options.maxSessions, DEFAULT_MAX_SESSIONS);
    // Room for the largest record (two bytes a character), its id and its user's index.
    const minBytes = 2 * this.#rules.maxRecordBytes + 4096;
    this.#maxBytes =
      options.maxBytes === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : durationOption(STORE, 'maxBytes', options.maxBytes, Math.max(DEFAULT_MAX_BYTES, minBytes), {
            min: minBytes,
          });
    this.#maxPerUser = maxSessionsPerUserOption(STORE, options.maxSessionsPerUser);
    this.#backgroundErrors = new BackgroundErrors(STORE, options.onError);
    if (options.cleanupIntervalMs !== undefined) {
      const interval = durationOption(STORE, 'cleanupIntervalMs', options.cleanupIntervalMs, 0, {
        max: MAX_CLEANUP_INTERVAL_MS,
      });
      this.#timer = setInterval(() => this.#timerSweep(), interval);
      unrefTimer(this.#timer);
    }
    this.#removedByStore = instrumentStore(this, STORE, options.telemetry);
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      const v = checkRecord(this.#rules, record, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'encoded', // metadata checked, then the record's one JSON text
      });
      const r = v.record;
      if (this.#sessions.has(r.id)) throw conflict(STORE);
      const { s, cost } = stored(v);
      // The user's own bound first: their soonest-expiring sessions make way.
      const owner = this.#users.get(r.tenantId)?.get(r.userId);
      if (owner !== undefined && owner.size >= this.#maxPerUser) {
        let removed = 0;
        while (owner.size >= this.#maxPerUser) {
          this.#remove(owner.first() as Entry);
          removed++;
        }
        this.#evictedPerUser += removed;
        this.#removedByStore('max_sessions_per_user', removed);
      }
      this.#makeRoom(v.now, cost + userCost(r.tenantId, r.userId), r.tenantId, r.userId);
      this.#insert(
        r.id,
        r.tenantId,
        r.userId,
        s,
        cost,
        r.createdAt.getTime(),
        r.expiresAt.getTime(),
        r.lastActivityAt.getTime(),
      );
      return r.id;
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
      const v = checkRecord(this.#rules, record, { operation: 'update', output: 'encoded' });
      const r = v.record;
      const e = this.#sessions.get(r.id);
      if (e === undefined) throw notFound(STORE, 'update');
      if (e.expiresAt <= v.now) throw expired(STORE, 'update');
      const owner = e.owner;
      checkImmutableFields(
        this.#rules,
        { userId: owner.userId, tenantId: owner.tenantId, createdAt: new Date(e.createdAt) },
        r,
      );
      const { s, cost } = stored(v);
      const grows = cost - e.cost;
      if (grows > 0 && this.#bytes() + grows > this.#maxBytes) {
        // Make room for the larger record without evicting this session: take it out,
        // make room as a create would, put it back (all in this synchronous step).
        this.#remove(e);
        this.#makeRoom(v.now, cost + userCost(owner.tenantId, owner.userId), owner.tenantId, owner.userId);
        this.#insert(
          e.id,
          owner.tenantId,
          owner.userId,
          s,
          cost,
          e.createdAt,
          r.expiresAt.getTime(),
          r.lastActivityAt.getTime(),
        );
        return;
      }
      e.set(s);
      e.cost = cost;
      owner.bytes += grows;
      this.#entryBytes += grows;
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
      let removed = 0;
      // A user past USER_PAGE sessions (maxSessionsPerUser raised) is removed a page at a
      // time, letting other work run between pages; sessions the user gains meanwhile go too.
      for (let e = owner.heap.at(-1); e !== undefined; e = owner.heap.at(-1)) {
        if (e.expiresAt > now) count++;
        this.#remove(e); // the heap's last entry: no reordering
        if (++removed % USER_PAGE === 0 && owner.size > 0) await nextTurn();
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
      for (const e of owner.heap) if (e.expiresAt > now) live.push(e);
      live.sort(byCreatedThenId);
      if (live.length <= USER_PAGE) return live.map(toRecord);
      // Past USER_PAGE sessions (maxSessionsPerUser raised): the records, the costly part,
      // are parsed a page at a time with other work running between pages; a session
      // removed meanwhile is left out, one changed meanwhile is read as it is now.
      const out: SessionRecord[] = [];
      for (let i = 0; i < live.length; i++) {
        const current = this.#sessions.get((live[i] as Entry).id);
        if (current !== undefined && current.owner.userId === userId && current.owner.tenantId === tenantId) {
          out.push(toRecord(current));
        }
        if ((i + 1) % USER_PAGE === 0) await nextTurn();
      }
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

  /** Counts for monitoring (a rising `evicted` means `maxBytes` or `maxSessions` is too low). */
  stats(): MemorySessionStoreStats {
    return {
      sessions: this.#sessions.size,
      users: this.#userCount,
      bytes: this.#bytes(),
      expiryBuckets: this.#buckets.size,
      evicted: this.#evicted,
      evictedPerUser: this.#evictedPerUser,
      sweepExamined: this.#examined,
      expiryHeapKeys: this.#keys.size,
    };
  }

  // --- internals: every one is synchronous ---

  #bytes(): number {
    return this.#entryBytes + this.#userBytes;
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

  #insert(
    id: string,
    tenant: TenantId,
    user: string,
    s: Stored,
    cost: number,
    createdAt: number,
    expiresAt: number,
    lastActivityAt: number,
  ): void {
    let byUser = this.#users.get(tenant);
    if (byUser === undefined) {
      byUser = new Map();
      this.#users.set(tenant, byUser);
    }
    let owner = byUser.get(user);
    if (owner === undefined) {
      owner = new UserIndex(tenant, user, userCost(tenant, user));
      byUser.set(user, owner);
      this.#userCount++;
      this.#userBytes += owner.cost;
    }
    const e = new Entry(id, owner, s, cost, createdAt, expiresAt, lastActivityAt);
    this.#sessions.set(id, e);
    owner.add(e);
    owner.bytes += cost;
    this.#entryBytes += cost;
    this.#index(e);
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
    e.owner.moved(e);
    if (b !== null && b.key === Math.floor(expiresAt / BUCKET_MS)) {
      if (expiresAt < b.min) b.min = expiresAt;
      return;
    }
    this.#unindex(e);
    this.#index(e);
  }

  #remove(e: Entry): void {
    if (this.#sessions.get(e.id) !== e) return; // already removed
    this.#sessions.delete(e.id);
    this.#unindex(e);
    const owner = e.owner;
    owner.delete(e);
    owner.bytes -= e.cost;
    this.#entryBytes -= e.cost;
    if (owner.size === 0) {
      const byUser = this.#users.get(owner.tenantId);
      if (byUser !== undefined && byUser.get(owner.userId) === owner) {
        byUser.delete(owner.userId);
        if (byUser.size === 0) this.#users.delete(owner.tenantId);
        this.#userCount--;
        this.#userBytes -= owner.cost;
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

  /** The session in the whole store that expires soonest (to the second; then the oldest in that second). */
  #soonest(): Entry | undefined {
    const keys = this.#keys;
    while (keys.size > 0) {
      const b = this.#buckets.get(keys.peek());
      if (b !== undefined) return b.first();
      keys.pop();
    }
    return undefined;
  }

  /**
   * Before a create (or a growing update) of `bytes` for (tenant, user): when the store
   * would go over maxSessions or maxBytes, drop every expired session, then evict until
   * there is room. Each eviction takes the creating user's own soonest-expiring session
   * while that user holds at least the average bytes per user (so one user filling the
   * store evicts itself, not everyone else), else the store's soonest-expiring session.
   */
  #makeRoom(now: number, bytes: number, tenant: string, user: string): void {
    const full = () => this.#sessions.size >= this.#maxSessions || this.#bytes() + bytes > this.#maxBytes;
    if (!full()) return;
    this.#sweep(now, Number.POSITIVE_INFINITY);
    while (full() && this.#sessions.size > 0) {
      const owner = this.#users.get(tenant)?.get(user);
      const victim =
        owner !== undefined && owner.bytes * this.#userCount >= this.#entryBytes ? owner.first() : this.#soonest();
      if (victim === undefined) break;
      this.#remove(victim);
      this.#evicted++;
    }
  }
}
