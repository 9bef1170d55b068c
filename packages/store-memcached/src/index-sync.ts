// Keeping each (tenant, user) index exact: every write is a CAS on the value read (an
// `add` when there was none, a CAS delete when it becomes empty), records are read after
// the index snapshot, concurrent writers of one index in this process are coalesced into
// one cycle, and a create past maxSessionsPerUser removes the soonest-expiring sessions
// in the same write. See README "The per-user index: design and guarantees".
import { readClock, type SessionRecord } from '@sessionkit/core';
import { backoff, type Context, deleteOwned, itemExpiration, type Owner, ownedRecord, STORE } from './context.js';
import type { Item } from './framing.js';
import { sessionKey } from './keys.js';
import type { Op } from './server-socket.js';
import {
  applyBound,
  type Entry,
  type EntryStates,
  type IndexEntries,
  latestExpiry,
  mergeKnown,
  parseIndex,
  serializeIndex,
} from './user-index.js';

/** Callers of one coalesced sync of an index. */
interface SyncBatch {
  owner: Owner;
  ids: Set<string>;
  /** Entries of sessions just created, by id, in creation order (expiresAt merged by max). */
  known: Map<string, Entry>;
  waiters: { op: Op; resolve(): void; reject(error: unknown): void }[];
}

/** A snapshot of an index and the states of some of its ids, read in that order. */
export interface Snapshot {
  snapshot: Item | null;
  states: EntryStates;
}

/** The index writes of one store. */
export class IndexSync {
  readonly #ctx: Context;
  /** Index syncs waiting to start, and index keys with a sync running (see sync()). */
  readonly #queued = new Map<string, SyncBatch>();
  readonly #syncing = new Set<string>();
  /** Index keys with a create's own (uncoalesced) write in flight, and how many. */
  readonly #ownWrites = new Map<string, number>();

  constructor(ctx: Context) {
    this.#ctx = ctx;
  }

  /**
   * Puts a newly created session into its user's index, entry = max(its expiresAt, any
   * stale entry with that id). Alone, it writes the snapshot read alongside the record's
   * add (two round trips for the whole create). When another write of that index is in
   * flight in this process, or on a CAS conflict, it joins the coalesced sync instead.
   * Either way the snapshot it writes against was read after the add (see README).
   */
  async add(ikey: string, record: SessionRecord, snapshot: Item | null, op: Op): Promise<void> {
    const known = new Map([[record.id, { exp: record.expiresAt.getTime(), created: record.createdAt.getTime() }]]);
    if (this.busy(ikey)) return this.sync(ikey, record, [], op, known);
    this.#ownWrites.set(ikey, (this.#ownWrites.get(ikey) ?? 0) + 1);
    let written: boolean;
    try {
      const now = readClock(this.#ctx.rules);
      const entries: IndexEntries = snapshot === null ? new Map() : parseIndex(snapshot.value.toString('utf8'), STORE);
      mergeKnown(entries, known, undefined);
      this.#dropRetired(entries, now);
      const removed = applyBound(entries, [record.id], this.#ctx.maxSessionsPerUser);
      written = await this.#write(ikey, snapshot, entries, now, op);
      if (written) await this.#removeSessions(record, removed, op);
    } finally {
      const left = (this.#ownWrites.get(ikey) ?? 1) - 1;
      if (left === 0) this.#ownWrites.delete(ikey);
      else this.#ownWrites.set(ikey, left);
    }
    if (!written) await this.sync(ikey, record, [], op, known);
  }

  /** Whether this process is writing index `ikey` right now. */
  busy(ikey: string): boolean {
    return this.#ownWrites.has(ikey) || this.#syncing.has(ikey) || this.#queued.has(ikey);
  }

  /**
   * {@link IndexSync.#syncIndex} for `ids`, coalesced per index key within this process:
   * callers that arrive while a sync of the same index is running wait for the next one,
   * which serves all of them with one snapshot, one batched record read and one CAS.
   * Concurrent writers of one user's index in one process thus cost one cycle each round
   * instead of one CAS conflict each (CAS still arbitrates between processes). The shared
   * cycle stops sending once every caller waiting for it has rejected.
   */
  sync(ikey: string, owner: Owner, ids: readonly string[], op: Op, known?: ReadonlyMap<string, Entry>): Promise<void> {
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

  /**
   * One CAS attempt at making the entries of `ids` say what `first.states` say, on the
   * snapshot the caller read before those states. Returns false when someone wrote the
   * index in between.
   */
  trySync(ikey: string, owner: Owner, ids: readonly string[], op: Op, first: Snapshot): Promise<boolean> {
    return this.#syncIndex(ikey, owner, ids, op, first, true);
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
    owner: Owner,
    ids: readonly string[],
    op: Op,
    first?: Snapshot,
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
        snapshot = await this.#ctx.conn.get(ikey, op);
        states = await this.#readStates(ids, owner, op);
      }
      const now = readClock(this.#ctx.rules);
      const entries: IndexEntries = snapshot === null ? new Map() : parseIndex(snapshot.value.toString('utf8'), STORE);
      for (const id of ids) {
        const state = states.get(id);
        if (state === null || state === undefined) entries.delete(id);
        else entries.set(id, state);
      }
      if (known !== undefined) mergeKnown(entries, known, states);
      this.#dropRetired(entries, now);
      // Creates (known) past maxSessionsPerUser remove the soonest-expiring sessions in this same write.
      const removed = known === undefined ? [] : applyBound(entries, [...known.keys()], this.#ctx.maxSessionsPerUser);
      if (await this.#write(ikey, snapshot, entries, now, op)) {
        await this.#removeSessions(owner, removed, op);
        return true;
      }
      if (once) return false;
      await backoff(attempt, op);
    }
  }

  /** What each id's index entry should be, from its record read now. */
  async #readStates(ids: readonly string[], owner: Owner, op: Op): Promise<EntryStates> {
    const keys = ids.map((id) => sessionKey(this.#ctx.prefix, id));
    const items = await this.#ctx.conn.getMany(keys, op);
    const now = readClock(this.#ctx.rules);
    const states: EntryStates = new Map();
    ids.forEach((id, i) => {
      const item = items.get(keys[i] as string);
      const record = item === undefined ? null : ownedRecord(item, id, owner);
      const exp = record === null ? null : record.expiresAt.getTime();
      states.set(
        id,
        record !== null && exp !== null && exp + this.#ctx.retentionMs > now
          ? { exp, created: record.createdAt.getTime() }
          : null,
      );
    });
    return states;
  }

  /** Drops entries of sessions past their retention: memcached has dropped (or will drop) their records. */
  #dropRetired(entries: IndexEntries, now: number): void {
    for (const [id, e] of entries) if (e.exp + this.#ctx.retentionMs <= now) entries.delete(id);
  }

  /**
   * Writes the index if it is still the snapshot (CAS; `add` when there was none; a CAS
   * delete when it is now empty). Its expiry is the latest entry's expiresAt plus the
   * retention. Returns false when someone wrote it in between.
   */
  async #write(ikey: string, snapshot: Item | null, entries: IndexEntries, now: number, op: Op): Promise<boolean> {
    const { conn } = this.#ctx;
    if (entries.size === 0) {
      if (snapshot === null) return true;
      return (await conn.delete(ikey, snapshot.cas, op)) !== 'changed';
    }
    const value = serializeIndex(entries);
    const expiration = itemExpiration(this.#ctx, latestExpiry(entries), now);
    if (snapshot === null) return (await conn.add(ikey, value, expiration, op)) !== null;
    return (await conn.casSet(ikey, value, expiration, snapshot.cas, op)) === 'ok';
  }

  /**
   * Deletes the records of sessions a create removed from `owner`'s index
   * (maxSessionsPerUser), each by CAS and only while it is still that owner's; at most
   * MAX_KEYS_PER_REQUEST keys per read.
   */
  async #removeSessions(owner: Owner, ids: readonly string[], op: Op): Promise<void> {
    if (ids.length === 0) return;
    const keys = ids.map((id) => sessionKey(this.#ctx.prefix, id));
    const items = await this.#ctx.conn.getMany(keys, op);
    await Promise.all(
      ids.map((id, i) => {
        const key = keys[i] as string;
        return deleteOwned(this.#ctx, key, id, owner, items.get(key) ?? null, op);
      }),
    );
  }
}
