import {
  assertOptionsObject,
  checkDuration,
  checkId,
  checkImmutableFields,
  checkRecord,
  checkUserArgs,
  compareSessions,
  conflict,
  DEFAULT_EXPIRED_RETENTION_MS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  decodeRecord,
  durationOption,
  encodeRecord,
  expired,
  extendedExpiry,
  generateSessionId,
  maxSessionsPerUserOption,
  notFound,
  OperationDeadlines,
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
} from '@sessionkit/core';
import { expirationField, indexKey, PREFIX_PATTERN, revokedKey, sessionKey } from './keys.js';
import { KNOWN_OPTIONS, type MemcachedSessionStoreOptions } from './options.js';
import {
  AbortedError,
  Connection,
  clientProblem,
  type Item,
  MemcachedStatusError,
  type MemjsClientInternals,
  type Op,
} from './protocol.js';
import {
  applyBound,
  type Entry,
  type IndexEntries,
  latestExpiry,
  parseIndex,
  sameEntry,
  serializeIndex,
} from './user-index.js';

const STORE = 'memcached';
const DEFAULT_PREFIX = 'sessionkit:';
/**
 * Without maxLifetimeMs, how long a "revoked before" marker outlives its deleteByUser
 * (sessions created earlier and expiring later than that are no longer covered).
 */
const DEFAULT_REVOCATION_MS = 400 * 24 * 3600_000;
/** CAS retries before an operation gives up with STORAGE (it is also bounded by operationTimeoutMs). */
const MAX_ATTEMPTS = 200;

const CAPABILITIES: StoreCapabilities = Object.freeze({
  list: true,
  revoke: true,
  revokeUser: true,
  mutate: true,
  // memcached cannot enumerate its keys; user indexes are pruned as they are used.
  cleanup: false,
  customIds: true,
});

/** What a session's index entry should say, read from its record: its entry, or null for "drop it". */
type EntryStates = Map<string, Entry | null>;

type Owner = { userId: string; tenantId: string };

interface SyncBatch {
  owner: Owner;
  ids: Set<string>;
  /** Entries of sessions just created, by id, in creation order (expiresAt merged by max). */
  known: Map<string, Entry>;
  waiters: { op: Op; resolve(): void; reject(error: unknown): void }[];
}

interface Live {
  record: SessionRecord;
  cas: Buffer;
  /** The record item's flags: the second (store clock) it was created in. */
  stamp: number;
  now: number;
}

/**
 * Sets each known entry to max(known, present): a record just created is in the index
 * with at least its own expiresAt. Ids whose record was read after the snapshot
 * (`states`) are left to that read.
 */
function mergeKnown(entries: IndexEntries, known: ReadonlyMap<string, Entry>, states: EntryStates | undefined): void {
  for (const [id, e] of known) {
    if (states?.has(id)) continue;
    const present = entries.get(id);
    entries.set(id, present === undefined ? e : { exp: Math.max(present.exp, e.exp), created: e.created });
  }
}

/** The item flags of a record created at `nowMs` (store clock): its second, as an unsigned 32-bit number. */
function stampOf(nowMs: number): number {
  return Math.min(Math.max(0, Math.floor(nowMs / 1000)), 0xffffffff);
}

/**
 * Whether a record created in second `stamp` (its item flags) was revoked by a
 * deleteByUser at `revokedAt` (ms): created in an earlier second.
 */
function revoked(stamp: number, revokedAt: number): boolean {
  return stamp < Math.floor(revokedAt / 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sessions in memcached through a caller-owned memjs client (one server or many), with a
 * per-(tenant, user) index kept exact with CAS. See the package README for the design.
 */
export class MemcachedSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = CAPABILITIES;

  readonly #rules: RecordRules;
  readonly #conn: Connection;
  readonly #prefix: string;
  readonly #retention: number;
  readonly #maxPerUser: number;
  /** One unref'd timer bounds every operation by operationTimeoutMs (see #run). */
  readonly #deadlines: OperationDeadlines;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Index syncs waiting to start, and index keys with a sync running (see #sync). */
  readonly #queued = new Map<string, SyncBatch>();
  readonly #syncing = new Set<string>();
  /** Index keys with a create's own (uncoalesced) write in flight, and how many. */
  readonly #ownWrites = new Map<string, number>();
  #closed = false;

  constructor(options: MemcachedSessionStoreOptions) {
    assertOptionsObject(STORE, options);
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
    const problem = clientProblem(options.client);
    if (problem !== undefined) {
      throw new SessionError('INVALID', `option client ${problem}`, {
        store: STORE,
        operation: 'constructor',
        field: 'client',
      });
    }
    const prefix = options.prefix === undefined ? DEFAULT_PREFIX : options.prefix;
    if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
      throw new SessionError(
        'INVALID',
        'option prefix must be a string of at most 100 printable ASCII characters without spaces',
        { store: STORE, operation: 'constructor', field: 'prefix' },
      );
    }
    this.#rules = resolveRecordRules(STORE, options);
    this.#retention = durationOption(
      STORE,
      'expiredRetentionMs',
      options.expiredRetentionMs,
      DEFAULT_EXPIRED_RETENTION_MS,
      {
        min: 0,
      },
    );
    const timeout = durationOption(
      STORE,
      'operationTimeoutMs',
      options.operationTimeoutMs,
      DEFAULT_OPERATION_TIMEOUT_MS,
      {
        min: 1,
        max: 2 ** 31 - 1,
      },
    );
    this.#maxPerUser = maxSessionsPerUserOption(STORE, options.maxSessionsPerUser);
    this.#deadlines = new OperationDeadlines(timeout, STORE);
    this.#prefix = prefix;
    this.#conn = new Connection(options.client as unknown as MemjsClientInternals);
  }

  // ---------------------------------------------------------------- public methods

  create(input: SessionRecord): Promise<string> {
    return this.#run('create', async (op) => {
      const {
        record,
        now,
        encoded: text,
      } = checkRecord(this.#rules, input, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      const key = sessionKey(this.#prefix, record.id);
      const ikey = indexKey(this.#prefix, record.tenantId, record.userId);
      const exp = record.expiresAt.getTime();
      // The record first (it claims the id), the index snapshot at the same time.
      const [added, snap] = await Promise.allSettled([
        this.#addRecord(key, text, exp, now, stampOf(now), op),
        this.#conn.get(ikey, op),
      ]);
      if (added.status === 'rejected') {
        // No answer: the add may still land later (a hung server); undo it if it does.
        if (
          !(
            added.reason instanceof MemcachedStatusError ||
            added.reason instanceof AbortedError ||
            SessionError.isInstance(added.reason)
          )
        ) {
          this.#undoCreate(key, null, ikey, record, text);
        }
        throw added.reason;
      }
      const cas = added.value;
      if (cas === null) throw conflict(STORE);
      try {
        if (snap.status === 'rejected') throw snap.reason;
        await this.#indexAdd(ikey, record, exp, snap.value, op);
      } catch (error) {
        this.#undoCreate(key, cas, ikey, record);
        throw error;
      }
      // Finished after the caller was told it failed (operationTimeoutMs): undo it.
      if (op.aborted) this.#undoCreate(key, cas, ikey, record);
      return record.id;
    });
  }

  get(id: string): Promise<SessionRecord | null> {
    return this.#run('get', async (op) => {
      if (!checkId(this.#rules, 'get', id)) return null;
      const item = await this.#conn.get(sessionKey(this.#prefix, id), op);
      if (item === null) return null;
      const record = decodeRecord(item.value.toString('utf8'), STORE);
      if (record.id !== id) return null;
      const now = readClock(this.#rules);
      const exp = record.expiresAt.getTime();
      if (exp + this.#retention <= now) return null;
      if (revoked(item.flags, await this.#revokedAt(record, op))) return null;
      if (exp <= now) throw expired(STORE, 'get');
      return record;
    });
  }

  update(input: SessionRecord): Promise<void> {
    return this.#run('update', async (op) => {
      const { record: next, encoded: text } = checkRecord(this.#rules, input, {
        operation: 'update',
        output: 'encoded',
      });
      if (!checkId(this.#rules, 'update', next.id)) throw notFound(STORE, 'update');
      const key = sessionKey(this.#prefix, next.id);
      const exp = next.expiresAt.getTime();
      let before: number;
      for (let attempt = 0; ; attempt++) {
        const live = await this.#readLive('update', key, next.id, op);
        checkImmutableFields(this.#rules, live.record, next);
        before = live.record.expiresAt.getTime();
        const outcome = await this.#conn.casSet(key, text, this.#expiration(exp, live.now), live.cas, op, live.stamp);
        if (outcome === 'ok') break;
        if (outcome === 'missing') throw notFound(STORE, 'update');
        await this.#backoff(attempt, op);
      }
      if (before !== exp) await this.#sync(indexKey(this.#prefix, next.tenantId, next.userId), next, [next.id], op);
    });
  }

  delete(id: string): Promise<void> {
    return this.#run('delete', async (op) => {
      if (!checkId(this.#rules, 'delete', id)) return;
      const key = sessionKey(this.#prefix, id);
      let item = await this.#conn.get(key, op);
      for (let attempt = 0; item !== null; attempt++) {
        let record: SessionRecord | null = null;
        try {
          record = decodeRecord(item.value.toString('utf8'), STORE);
        } catch {
          record = null; // corrupt: remove it all the same
        }
        if (record !== null && record.id !== id) return;
        // CAS: delete exactly what was read (so the index entry removed is the right one).
        const outcome = await this.#conn.delete(key, item.cas, op);
        if (outcome === 'missing') return;
        if (outcome === 'ok') {
          if (record !== null)
            await this.#sync(indexKey(this.#prefix, record.tenantId, record.userId), record, [id], op);
          return;
        }
        await this.#backoff(attempt, op);
        item = await this.#conn.get(key, op);
      }
    });
  }

  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return this.#run('deleteByUser', async (op) => {
      checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
      const owner = { userId, tenantId };
      const ikey = indexKey(this.#prefix, tenantId, userId);
      // First the "revoked before" marker, so that sessions the index no longer reaches
      // (it was evicted or its server restarted) read as gone too; then the index.
      const [before, snapshot] = await Promise.all([this.#markRevoked(owner, op), this.#conn.get(ikey, op)]);
      if (snapshot === null) return 0;
      const ids = [...parseIndex(snapshot.value.toString('utf8'), STORE).keys()];
      const keys = ids.map((id) => sessionKey(this.#prefix, id));
      const items = await this.#conn.getMany(keys, op);
      const now = readClock(this.#rules);
      let count = 0;
      const states: EntryStates = new Map();
      await Promise.all(
        ids.map(async (id, i) => {
          const key = keys[i] as string;
          let item = items.get(key) ?? null;
          for (let attempt = 0; item !== null; attempt++) {
            const record = this.#owned(item, id, owner);
            if (record === null) break;
            const outcome = await this.#conn.delete(key, item.cas, op);
            if (outcome === 'ok') {
              // an earlier deleteByUser had revoked it already: it was gone
              if (record.expiresAt.getTime() > now && !revoked(item.flags, before)) count++;
              break;
            }
            if (outcome === 'missing') break;
            await this.#backoff(attempt, op);
            item = await this.#conn.get(key, op);
          }
          // Every id read after the snapshot is now gone or someone else's: drop it.
          states.set(id, null);
        }),
      );
      if (!(await this.#syncIndex(ikey, owner, ids, op, { snapshot, states }, true)))
        await this.#sync(ikey, owner, ids, op);
      return count;
    });
  }

  extend(id: string, durationMs: number): Promise<void> {
    return this.#run('extend', async (op) => {
      const valid = checkId(this.#rules, 'extend', id);
      const duration = checkDuration(this.#rules, durationMs);
      if (!valid) throw notFound(STORE, 'extend');
      const key = sessionKey(this.#prefix, id);
      let record: SessionRecord;
      let before: number;
      for (let attempt = 0; ; attempt++) {
        const live = await this.#readLive('extend', key, id, op);
        record = live.record;
        before = record.expiresAt.getTime();
        const exp = extendedExpiry(this.#rules, record.createdAt.getTime(), live.now, duration);
        record.expiresAt = new Date(exp);
        record.lastActivityAt = new Date(live.now);
        const outcome = await this.#conn.casSet(
          key,
          encodeRecord(record),
          this.#expiration(exp, live.now),
          live.cas,
          op,
          live.stamp,
        );
        if (outcome === 'ok') break;
        if (outcome === 'missing') throw notFound(STORE, 'extend');
        await this.#backoff(attempt, op);
      }
      if (before !== record.expiresAt.getTime()) {
        await this.#sync(indexKey(this.#prefix, record.tenantId, record.userId), record, [id], op);
      }
    });
  }

  touch(id: string): Promise<void> {
    return this.#run('touch', async (op) => {
      if (!checkId(this.#rules, 'touch', id)) throw notFound(STORE, 'touch');
      const key = sessionKey(this.#prefix, id);
      for (let attempt = 0; ; attempt++) {
        const { record, cas, now, stamp } = await this.#readLive('touch', key, id, op);
        record.lastActivityAt = new Date(now);
        const expiration = this.#expiration(record.expiresAt.getTime(), now);
        const outcome = await this.#conn.casSet(key, encodeRecord(record), expiration, cas, op, stamp);
        if (outcome === 'ok') return;
        if (outcome === 'missing') throw notFound(STORE, 'touch');
        await this.#backoff(attempt, op);
      }
    });
  }

  /** memcached cannot enumerate keys: `capabilities.cleanup` is false and this resolves 0. */
  async cleanupExpired(): Promise<number> {
    return 0;
  }

  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    return this.#run('listByUser', async (op) => {
      checkUserArgs(this.#rules, 'listByUser', userId, tenantId);
      const owner = { userId, tenantId };
      const ikey = indexKey(this.#prefix, tenantId, userId);
      const [snapshot, revokedAt] = await Promise.all([this.#conn.get(ikey, op), this.#revokedAt(owner, op)]);
      if (snapshot === null) return [];
      const entries = parseIndex(snapshot.value.toString('utf8'), STORE);
      const ids = [...entries.keys()];
      const keys = ids.map((id) => sessionKey(this.#prefix, id));
      const items = await this.#conn.getMany(keys, op);
      const now = readClock(this.#rules);
      const live: SessionRecord[] = [];
      const states: EntryStates = new Map();
      let stale = false;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const item = items.get(keys[i] as string);
        const owned = item === undefined ? null : this.#owned(item, id, owner);
        const record = owned !== null && !revoked((item as Item).flags, revokedAt) ? owned : null;
        let state: Entry | null = null;
        if (record !== null) {
          const exp = record.expiresAt.getTime();
          if (exp + this.#retention > now) state = { exp, created: record.createdAt.getTime() };
          if (exp > now) live.push(record);
        }
        states.set(id, state);
        if (!sameEntry(state, entries.get(id))) stale = true;
      }
      if (stale && !this.#busy(ikey)) {
        // Prune as we go: one CAS attempt, and only when this process is not writing that
        // index already; a concurrent writer simply wins.
        await this.#syncIndex(ikey, owner, ids, op, { snapshot, states }, true).catch(() => {});
      }
      return live.sort(compareSessions);
    });
  }

  /**
   * Stops the store's own timers (the operation deadlines, retries of undoing a failed
   * create) and ends its own connections once nothing is pending on them; the caller's
   * memjs client stays open. Operations still running keep their deadlines (the
   * deadline timer ends with them); an operation started later is bounded again.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#deadlines.stop();
    this.#conn.close();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Runs one operation under operationTimeoutMs; once it has rejected, it sends nothing
   * more. On its deadline the operation is marked aborted before it rejects, so requests
   * still waiting for a connection are dropped, its CAS retries stop, and a coalesced index
   * sync stops sending once every operation waiting for it has been aborted.
   */
  #run<T>(operation: string, body: (op: Op) => Promise<T>): Promise<T> {
    const op: Op = { aborted: false };
    return new Promise<T>((resolve, reject) => {
      const deadline = this.#deadlines.add(() => {
        op.aborted = true;
        reject(this.#deadlines.timeoutError(operation));
      });
      body(op).then(
        (value) => {
          deadline.clear();
          resolve(value);
        },
        (error: unknown) => {
          deadline.clear();
          op.aborted = true;
          reject(toStorageError(error, STORE, operation));
        },
      );
    });
  }

  /** The expiration field for an item of a session expiring at `expMs`. */
  #expiration(expMs: number, now: number): number {
    return expirationField(expMs + this.#retention, now);
  }

  async #backoff(attempt: number, op: Op): Promise<void> {
    if (op.aborted) throw new AbortedError();
    if (attempt >= MAX_ATTEMPTS) {
      throw new SessionError('STORAGE', `gave up after ${MAX_ATTEMPTS} conflicting concurrent writes`, {
        store: STORE,
        cause: new Error(`CAS conflict ${MAX_ATTEMPTS} times in a row`),
      });
    }
    if (attempt > 0) await sleep(Math.random() * Math.min(20, 2 ** attempt));
  }

  /** The record in `item` when it is session `id` of `owner`, else null (corrupt data included). */
  #owned(item: Item, id: string, owner: { userId: string; tenantId: string }): SessionRecord | null {
    let record: SessionRecord;
    try {
      record = decodeRecord(item.value.toString('utf8'), STORE);
    } catch {
      return null;
    }
    if (record.id !== id || record.userId !== owner.userId || record.tenantId !== owner.tenantId) return null;
    return record;
  }

  /** Reads a session that must exist and be unexpired: NOT_FOUND / EXPIRED otherwise. */
  async #readLive(operation: string, key: string, id: string, op: Op): Promise<Live> {
    const item = await this.#conn.get(key, op);
    if (item === null) throw notFound(STORE, operation);
    const record = decodeRecord(item.value.toString('utf8'), STORE);
    if (record.id !== id) throw notFound(STORE, operation);
    const now = readClock(this.#rules);
    const exp = record.expiresAt.getTime();
    if (exp + this.#retention <= now) throw notFound(STORE, operation);
    if (revoked(item.flags, await this.#revokedAt(record, op))) throw notFound(STORE, operation);
    if (exp <= now) throw expired(STORE, operation);
    return { record, cas: item.cas, stamp: item.flags, now };
  }

  /**
   * Adds the record; returns its CAS, or null when a session with that id exists. An item
   * that outlived its retention on the store's clock (memcached runs on real time) does
   * not count as existing and is replaced, with CAS.
   */
  async #addRecord(key: string, text: string, exp: number, now: number, stamp: number, op: Op): Promise<Buffer | null> {
    const expiration = this.#expiration(exp, now);
    for (let attempt = 0; ; attempt++) {
      const cas = await this.#conn.add(key, text, expiration, op, stamp);
      if (cas !== null) return cas;
      const existing = await this.#conn.get(key, op);
      if (existing !== null) {
        let old: SessionRecord | null = null;
        try {
          old = decodeRecord(existing.value.toString('utf8'), STORE);
        } catch {
          old = null;
        }
        // Gone: past its retention, or revoked by a deleteByUser that did not reach it.
        const gone =
          old !== null &&
          (old.expiresAt.getTime() + this.#retention <= now || revoked(existing.flags, await this.#revokedAt(old, op)));
        if (!gone) return null;
        const outcome = await this.#conn.casSetWithCas(key, text, expiration, existing.cas, op, stamp);
        if (outcome !== null) return outcome;
      }
      await this.#backoff(attempt, op);
    }
  }

  /**
   * Puts a newly created session into its user's index, entry = max(its expiresAt, any
   * stale entry with that id). Alone, it writes the snapshot read alongside the record's
   * add (two round trips for the whole create). When another write of that index is in
   * flight in this process, or on a CAS conflict, it joins the coalesced sync instead.
   * Either way the snapshot it writes against was read after the add (see README).
   */
  async #indexAdd(ikey: string, record: SessionRecord, exp: number, snapshot: Item | null, op: Op): Promise<void> {
    const known = new Map([[record.id, { exp, created: record.createdAt.getTime() }]]);
    if (this.#busy(ikey)) return this.#sync(ikey, record, [], op, known);
    this.#ownWrites.set(ikey, (this.#ownWrites.get(ikey) ?? 0) + 1);
    let written: boolean;
    try {
      const now = readClock(this.#rules);
      const entries: IndexEntries = snapshot === null ? new Map() : parseIndex(snapshot.value.toString('utf8'), STORE);
      mergeKnown(entries, known, undefined);
      this.#dropRetired(entries, now);
      const removed = applyBound(entries, [record.id], this.#maxPerUser);
      written = await this.#writeIndex(ikey, snapshot, entries, now, op);
      if (written) await this.#removeSessions(record, removed, op);
    } finally {
      const left = (this.#ownWrites.get(ikey) ?? 1) - 1;
      if (left === 0) this.#ownWrites.delete(ikey);
      else this.#ownWrites.set(ikey, left);
    }
    if (!written) await this.#sync(ikey, record, [], op, known);
  }

  /** Whether this process is writing index `ikey` right now. */
  #busy(ikey: string): boolean {
    return this.#ownWrites.has(ikey) || this.#syncing.has(ikey) || this.#queued.has(ikey);
  }

  /**
   * {@link #syncIndex} for `ids`, coalesced per index key within this process: callers
   * that arrive while a sync of the same index is running wait for the next one, which
   * serves all of them with one snapshot, one batched record read and one CAS. Concurrent
   * writers of one user's index in one process thus cost one cycle each round instead of
   * one CAS conflict each (CAS still arbitrates between processes). The shared cycle
   * stops sending once every caller waiting for it has rejected.
   */
  #sync(ikey: string, owner: Owner, ids: readonly string[], op: Op, known?: ReadonlyMap<string, Entry>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.#queued.get(ikey);
      if (batch === undefined) {
        batch = { owner, ids: new Set(), known: new Map(), waiters: [] };
        this.#queued.set(ikey, batch);
      }
      for (const id of ids) batch.ids.add(id);
      if (known !== undefined) mergeKnown(batch.known, known, undefined);
      batch.waiters.push({ op, resolve, reject });
      if (!this.#syncing.has(ikey)) this.#startSync(ikey);
    });
  }

  #startSync(ikey: string): void {
    const batch = this.#queued.get(ikey);
    if (batch === undefined) return;
    this.#queued.delete(ikey);
    this.#syncing.add(ikey);
    const op: Op = {
      get aborted() {
        return batch.waiters.every((w) => w.op.aborted);
      },
      set aborted(_value: boolean) {},
    };
    this.#syncIndex(ikey, batch.owner, [...batch.ids], op, undefined, false, batch.known)
      .then(
        () => {
          for (const w of batch.waiters) w.resolve();
        },
        (error: unknown) => {
          for (const w of batch.waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.#syncing.delete(ikey);
        this.#startSync(ikey);
      });
  }

  /**
   * Makes the index entries of `ids` say what their records say (expiresAt, or absent
   * when the record is gone, retired or someone else's), with CAS on the index, retrying
   * until no one wrote the index in between. Each attempt reads the records AFTER its
   * index snapshot, which is what makes it safe against concurrent creates (see README).
   * `first` supplies a snapshot and states the caller read in that order.
   */
  async #syncIndex(
    ikey: string,
    owner: { userId: string; tenantId: string },
    ids: readonly string[],
    op: Op,
    first?: { snapshot: Item | null; states: EntryStates },
    once = false,
    known?: ReadonlyMap<string, Entry>,
  ): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      let snapshot: Item | null;
      let states: EntryStates;
      if (attempt === 0 && first !== undefined) {
        snapshot = first.snapshot;
        states = first.states;
      } else {
        snapshot = await this.#conn.get(ikey, op);
        states = await this.#readStates(ids, owner, op);
      }
      const now = readClock(this.#rules);
      const entries: IndexEntries = snapshot === null ? new Map() : parseIndex(snapshot.value.toString('utf8'), STORE);
      for (const id of ids) {
        const state = states.get(id);
        if (state === null || state === undefined) entries.delete(id);
        else entries.set(id, state);
      }
      if (known !== undefined) mergeKnown(entries, known, states);
      this.#dropRetired(entries, now);
      // Creates (known) past maxSessionsPerUser remove the soonest-expiring sessions in this same write.
      const removed = known === undefined ? [] : applyBound(entries, [...known.keys()], this.#maxPerUser);
      if (await this.#writeIndex(ikey, snapshot, entries, now, op)) {
        await this.#removeSessions(owner, removed, op);
        return true;
      }
      if (once) return false;
      await this.#backoff(attempt, op);
    }
  }

  /** What each id's index entry should be, from its record read now. */
  async #readStates(ids: readonly string[], owner: { userId: string; tenantId: string }, op: Op): Promise<EntryStates> {
    const keys = ids.map((id) => sessionKey(this.#prefix, id));
    const items = await this.#conn.getMany(keys, op);
    const now = readClock(this.#rules);
    const states: EntryStates = new Map();
    ids.forEach((id, i) => {
      const item = items.get(keys[i] as string);
      const record = item === undefined ? null : this.#owned(item, id, owner);
      const exp = record === null ? null : record.expiresAt.getTime();
      states.set(
        id,
        record !== null && exp !== null && exp + this.#retention > now
          ? { exp, created: record.createdAt.getTime() }
          : null,
      );
    });
    return states;
  }

  /** Drops entries of sessions past their retention: memcached has dropped (or will drop) their records. */
  #dropRetired(entries: IndexEntries, now: number): void {
    for (const [id, e] of entries) if (e.exp + this.#retention <= now) entries.delete(id);
  }

  /**
   * Writes the index if it is still the snapshot (CAS; `add` when there was none; a CAS
   * delete when it is now empty). Its expiry is the latest entry's expiresAt plus the
   * retention. Returns false when someone wrote it in between.
   */
  async #writeIndex(ikey: string, snapshot: Item | null, entries: IndexEntries, now: number, op: Op): Promise<boolean> {
    if (entries.size === 0) {
      if (snapshot === null) return true;
      return (await this.#conn.delete(ikey, snapshot.cas, op)) !== 'changed';
    }
    const value = serializeIndex(entries);
    const expiration = this.#expiration(latestExpiry(entries), now);
    if (snapshot === null) return (await this.#conn.add(ikey, value, expiration, op)) !== null;
    return (await this.#conn.casSet(ikey, value, expiration, snapshot.cas, op)) === 'ok';
  }

  /**
   * Deletes the records of sessions a create removed from `owner`'s index
   * (maxSessionsPerUser), each by CAS and only while it is still that owner's; at most
   * MAX_KEYS_PER_REQUEST keys per read.
   */
  async #removeSessions(owner: Owner, ids: readonly string[], op: Op): Promise<void> {
    if (ids.length === 0) return;
    const keys = ids.map((id) => sessionKey(this.#prefix, id));
    const items = await this.#conn.getMany(keys, op);
    await Promise.all(
      ids.map(async (id, i) => {
        const key = keys[i] as string;
        let item = items.get(key) ?? null;
        for (let attempt = 0; item !== null && this.#owned(item, id, owner) !== null; attempt++) {
          const outcome = await this.#conn.delete(key, item.cas, op);
          if (outcome !== 'changed') return;
          await this.#backoff(attempt, op);
          item = await this.#conn.get(key, op);
        }
      }),
    );
  }

  /** When `owner` was last revoked by deleteByUser (ms, store clock), or -Infinity. */
  async #revokedAt(owner: Owner, op: Op): Promise<number> {
    const item = await this.#conn.get(revokedKey(this.#prefix, owner.tenantId, owner.userId), op);
    if (item === null) return Number.NEGATIVE_INFINITY;
    const at = Number(item.value.toString('latin1'));
    if (!Number.isSafeInteger(at)) {
      throw new SessionError('STORAGE', 'stored revocation marker cannot be decoded', {
        store: STORE,
        operation: 'decode',
      });
    }
    return at;
  }

  /**
   * Sets `owner`'s "revoked before" marker to now (never lowers it; CAS). It lives until
   * every session created before now has expired: `maxLifetimeMs` after now (400 days
   * without it), plus the retention. Returns the previous value (-Infinity when none).
   */
  async #markRevoked(owner: Owner, op: Op): Promise<number> {
    const key = revokedKey(this.#prefix, owner.tenantId, owner.userId);
    for (let attempt = 0; ; attempt++) {
      const item = await this.#conn.get(key, op);
      const now = readClock(this.#rules);
      const previous = item === null ? Number.NEGATIVE_INFINITY : Number(item.value.toString('latin1'));
      if (previous >= now) return previous;
      const until = now + (this.#rules.maxLifetimeMs ?? DEFAULT_REVOCATION_MS);
      const expiration = this.#expiration(until, now);
      const value = String(now);
      const stored =
        item === null
          ? (await this.#conn.add(key, value, expiration, op)) !== null
          : (await this.#conn.casSet(key, value, expiration, item.cas, op)) === 'ok';
      if (stored) return Number.isSafeInteger(previous) ? previous : Number.NEGATIVE_INFINITY;
      await this.#backoff(attempt, op);
    }
  }

  /**
   * Undoes a create that failed after its record was written, or that finished after it
   * was rejected: deletes exactly the record it wrote and its index entry. With the CAS
   * of the add it deletes by CAS at once. Without it (the add got no answer, so it may
   * still land), it looks a few times, a second apart, for an item holding exactly this
   * record's text and deletes that by CAS, so a concurrent create of the same id by
   * someone else is never touched. Best effort, in the background, each try bounded by
   * operationTimeoutMs; close() stops the tries.
   */
  #undoCreate(key: string, cas: Buffer | null, ikey: string | null, record: SessionRecord, text?: string): void {
    const index = ikey ?? indexKey(this.#prefix, record.tenantId, record.userId);
    const attempt = (tries: number, clean: number): void => {
      this.#run('create (undo)', async (op) => {
        let target = cas;
        if (target === null) {
          const item = await this.#conn.get(key, op);
          if (item === null || item.value.toString('utf8') !== text) return false;
          target = item.cas;
        }
        const outcome = await this.#conn.delete(key, target, op);
        if (outcome === 'ok') await this.#sync(index, record, [record.id], op);
        return outcome === 'ok';
      }).then(
        (deleted) => {
          if (cas === null && !deleted && clean + 1 < 2 && tries + 1 < 5)
            this.#later(() => attempt(tries + 1, clean + 1));
        },
        () => {
          if (tries + 1 < 5) this.#later(() => attempt(tries + 1, clean));
        },
      );
    };
    attempt(0, 0);
  }

  #later(fn: () => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, 1000);
    timer.unref();
    this.#timers.add(timer);
  }
}
