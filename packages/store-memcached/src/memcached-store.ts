// MemcachedSessionStore: the class and its public methods, in the contract's words. The
// concerns live in their own files: options.ts (options), keys.ts (key layout and
// expiry), connection.ts / server-socket.ts / framing.ts (talking to memcached),
// user-index.ts and index-sync.ts (the per-user index), revocation.ts (deleteByUser's
// marker), create-undo.ts (create's write and its undo), context.ts (what they share).
import {
  checkExtendArgs,
  checkId,
  checkLive,
  checkRecord,
  checkUpdateTarget,
  checkUserArgs,
  compareSessions,
  conflict,
  decodeRecord,
  encodeRecord,
  expired,
  extendedExpiry,
  generateSessionId,
  instrumentStore,
  notFound,
  type OperationDeadlines,
  readClock,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type StoredSessionFacts,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import { Connection } from './connection.js';
import { backoff, type Context, deleteOwned, itemExpiration, ownedRecord, STORE } from './context.js';
import { addRecord, CreateUndo, unanswered } from './create-undo.js';
import type { Item } from './framing.js';
import { IndexSync } from './index-sync.js';
import { indexKey, sessionKey } from './keys.js';
import { type MemcachedSessionStoreOptions, readOptions } from './options.js';
import { markRevoked, OwnerHints, readSession, revoked, revokedAt, type SessionRead } from './revocation.js';
import type { Op } from './server-socket.js';
import { type Entry, type EntryStates, parseIndex, sameEntry } from './user-index.js';

const CAPABILITIES: StoreCapabilities = Object.freeze({
  list: true,
  revoke: true,
  revokeUser: true,
  mutate: true,
  // memcached cannot enumerate its keys; user indexes are pruned as they are used.
  cleanup: false,
  customIds: true,
});

/**
 * Sessions in memcached through a caller-owned memjs client (one server or many), with a
 * per-(tenant, user) index kept exact with CAS. See the package README for the design.
 */
export class MemcachedSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = CAPABILITIES;

  readonly #ctx: Context;
  /** One unref'd timer bounds every operation by operationTimeoutMs (see #run). */
  readonly #deadlines: OperationDeadlines;
  readonly #index: IndexSync;
  readonly #undo: CreateUndo;
  /** Which owner's marker to read alongside a record (see readSession). */
  readonly #hints = new OwnerHints();

  constructor(options: MemcachedSessionStoreOptions) {
    const settings = readOptions(options);
    this.#ctx = { ...settings, conn: new Connection(settings.client) };
    this.#deadlines = settings.deadlines;
    this.#index = new IndexSync(this.#ctx);
    this.#undo = new CreateUndo(this.#ctx, this.#index, (operation, body) => this.#run(operation, body));
    instrumentStore(this, STORE, options.telemetry);
  }

  create(record: SessionRecord): Promise<string> {
    return this.#run('create', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      const checked = checkRecord(rules, record, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      const { record: created, now, encoded: text } = checked;
      const key = sessionKey(prefix, created.id);
      const ikey = indexKey(prefix, created.tenantId, created.userId);
      // The record first (it claims the id), the index snapshot at the same time.
      const [added, snapshot] = await Promise.allSettled([
        addRecord(this.#ctx, key, text, created, now, op),
        conn.get(ikey, op),
      ]);
      if (added.status === 'rejected') {
        // No answer: the add may still land later (a hung server); undo it if it does.
        if (unanswered(added.reason)) this.#undo.undo(key, null, created, text);
        throw added.reason;
      }
      const cas = added.value;
      if (cas === null) throw conflict(STORE);
      try {
        if (snapshot.status === 'rejected') throw snapshot.reason;
        await this.#index.add(ikey, created, snapshot.value, op);
      } catch (error) {
        this.#undo.undo(key, cas, created);
        throw error;
      }
      // Finished after the caller was told it failed (operationTimeoutMs): undo it.
      if (op.aborted) this.#undo.undo(key, cas, created);
      return created.id;
    });
  }

  get(id: string): Promise<SessionRecord | null> {
    return this.#run('get', async (op) => {
      if (!checkId(this.#ctx.rules, 'get', id)) return null;
      const read = await readSession(this.#ctx, this.#hints, sessionKey(this.#ctx.prefix, id), id, op);
      if (read === null) return null;
      if (read.record.expiresAt.getTime() <= read.now) throw expired(STORE, 'get');
      return read.record;
    });
  }

  update(record: SessionRecord): Promise<void> {
    return this.#run('update', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      const { record: next, encoded: text } = checkRecord(rules, record, { operation: 'update', output: 'encoded' });
      if (!checkId(rules, 'update', next.id)) throw notFound(STORE, 'update');
      const key = sessionKey(prefix, next.id);
      const exp = next.expiresAt.getTime();
      let before: number;
      for (let attempt = 0; ; attempt++) {
        const read = await readSession(this.#ctx, this.#hints, key, next.id, op);
        checkUpdateTarget(rules, read === null ? undefined : storedFacts(read.record), next, read?.now ?? 0);
        const { item, record: stored, now } = read as SessionRead;
        before = stored.expiresAt.getTime();
        const expiration = itemExpiration(this.#ctx, exp, now);
        const outcome = await conn.casSet(key, text, expiration, item.cas, op, item.flags);
        if (outcome === 'ok') break;
        if (outcome === 'missing') throw notFound(STORE, 'update');
        await backoff(attempt, op);
      }
      if (before !== exp) await this.#index.sync(indexKey(prefix, next.tenantId, next.userId), next, [next.id], op);
    });
  }

  delete(id: string): Promise<void> {
    return this.#run('delete', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      if (!checkId(rules, 'delete', id)) return;
      const key = sessionKey(prefix, id);
      let item = await conn.get(key, op);
      for (let attempt = 0; item !== null; attempt++) {
        let record: SessionRecord | null = null;
        try {
          record = decodeRecord(item.value.toString('utf8'), STORE);
        } catch {
          record = null; // corrupt: remove it all the same
        }
        if (record !== null && record.id !== id) return;
        // CAS: delete exactly what was read (so the index entry removed is the right one).
        const outcome = await conn.delete(key, item.cas, op);
        if (outcome === 'missing') return;
        if (outcome === 'ok') {
          if (record !== null)
            await this.#index.sync(indexKey(prefix, record.tenantId, record.userId), record, [id], op);
          return;
        }
        await backoff(attempt, op);
        item = await conn.get(key, op);
      }
    });
  }

  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return this.#run('deleteByUser', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      checkUserArgs(rules, 'deleteByUser', userId, tenantId);
      const owner = { userId, tenantId };
      const ikey = indexKey(prefix, tenantId, userId);
      // First the "revoked before" marker, so that sessions the index no longer reaches
      // (it was evicted or its server restarted) read as gone too; then the index.
      const [before, snapshot] = await Promise.all([markRevoked(this.#ctx, owner, op), conn.get(ikey, op)]);
      if (snapshot === null) return 0;
      const ids = [...parseIndex(snapshot.value.toString('utf8'), STORE).keys()];
      const keys = ids.map((id) => sessionKey(prefix, id));
      const items = await conn.getMany(keys, op);
      const now = readClock(rules);
      let count = 0;
      const states: EntryStates = new Map();
      await Promise.all(
        ids.map(async (id, i) => {
          const key = keys[i] as string;
          const deleted = await deleteOwned(this.#ctx, key, id, owner, items.get(key) ?? null, op);
          // an earlier deleteByUser had revoked it already: it was gone
          if (deleted !== null && deleted.record.expiresAt.getTime() > now && !revoked(deleted.item.flags, before))
            count++;
          // Every id read after the snapshot is now gone or someone else's: drop it.
          states.set(id, null);
        }),
      );
      if (!(await this.#index.trySync(ikey, owner, ids, op, { snapshot, states })))
        await this.#index.sync(ikey, owner, ids, op);
      return count;
    });
  }

  extend(id: string, durationMs: number): Promise<void> {
    return this.#run('extend', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      const args = checkExtendArgs(rules, id, durationMs);
      if (!args.named) throw notFound(STORE, 'extend');
      const key = sessionKey(prefix, id);
      let record: SessionRecord;
      let before: number;
      for (let attempt = 0; ; attempt++) {
        const { item, record: stored, now } = await this.#readLive('extend', key, id, op);
        record = stored;
        before = record.expiresAt.getTime();
        const exp = extendedExpiry(rules, record.createdAt.getTime(), now, args.durationMs);
        record.expiresAt = new Date(exp);
        record.lastActivityAt = new Date(now);
        const expiration = itemExpiration(this.#ctx, exp, now);
        const outcome = await conn.casSet(key, encodeRecord(record), expiration, item.cas, op, item.flags);
        if (outcome === 'ok') break;
        if (outcome === 'missing') throw notFound(STORE, 'extend');
        await backoff(attempt, op);
      }
      if (before !== record.expiresAt.getTime()) {
        await this.#index.sync(indexKey(prefix, record.tenantId, record.userId), record, [id], op);
      }
    });
  }

  touch(id: string): Promise<void> {
    return this.#run('touch', async (op) => {
      const { conn, prefix, rules } = this.#ctx;
      if (!checkId(rules, 'touch', id)) throw notFound(STORE, 'touch');
      const key = sessionKey(prefix, id);
      for (let attempt = 0; ; attempt++) {
        const { item, record, now } = await this.#readLive('touch', key, id, op);
        record.lastActivityAt = new Date(now);
        const expiration = itemExpiration(this.#ctx, record.expiresAt.getTime(), now);
        const outcome = await conn.casSet(key, encodeRecord(record), expiration, item.cas, op, item.flags);
        if (outcome === 'ok') return;
        if (outcome === 'missing') throw notFound(STORE, 'touch');
        await backoff(attempt, op);
      }
    });
  }

  /** memcached cannot enumerate keys: `capabilities.cleanup` is false and this resolves 0. */
  async cleanupExpired(): Promise<number> {
    return 0;
  }

  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    return this.#run('listByUser', async (op) => {
      const { conn, prefix, rules, retentionMs } = this.#ctx;
      checkUserArgs(rules, 'listByUser', userId, tenantId);
      const owner = { userId, tenantId };
      const ikey = indexKey(prefix, tenantId, userId);
      const [snapshot, revokedBefore] = await Promise.all([conn.get(ikey, op), revokedAt(this.#ctx, owner, op)]);
      if (snapshot === null) return [];
      const entries = parseIndex(snapshot.value.toString('utf8'), STORE);
      const ids = [...entries.keys()];
      const keys = ids.map((id) => sessionKey(prefix, id));
      const items = await conn.getMany(keys, op);
      const now = readClock(rules);
      const live: SessionRecord[] = [];
      const states: EntryStates = new Map();
      let stale = false;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const item = items.get(keys[i] as string);
        const owned = item === undefined ? null : ownedRecord(item, id, owner);
        const record = owned !== null && !revoked((item as Item).flags, revokedBefore) ? owned : null;
        let state: Entry | null = null;
        if (record !== null) {
          const exp = record.expiresAt.getTime();
          if (exp + retentionMs > now) state = { exp, created: record.createdAt.getTime() };
          if (exp > now) live.push(record);
        }
        states.set(id, state);
        if (!sameEntry(state, entries.get(id))) stale = true;
      }
      if (stale && !this.#index.busy(ikey)) {
        // Prune as we go: one CAS attempt, and only when this process is not writing that
        // index already; a concurrent writer simply wins.
        await this.#index.trySync(ikey, owner, ids, op, { snapshot, states }).catch(() => {});
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
    this.#undo.close();
    this.#deadlines.stop();
    this.#ctx.conn.close();
  }

  /**
   * Runs one operation under operationTimeoutMs; once it has rejected, it sends nothing
   * more. On its deadline the operation is marked aborted before it rejects, so requests
   * still waiting for a connection are dropped, its CAS retries stop, and a coalesced index
   * sync stops sending once every operation waiting for it has been aborted. Whatever it
   * throws leaves as a SessionError (toStorageError).
   */
  async #run<T>(operation: string, body: (op: Op) => Promise<T>): Promise<T> {
    const op: Op = { aborted: false };
    try {
      return await new Promise<T>((resolve, reject) => {
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
            reject(error);
          },
        );
      });
    } catch (error) {
      op.aborted = true;
      throw toStorageError(error, STORE, operation);
    }
  }

  /** Reads a session that must exist and be unexpired: NOT_FOUND / EXPIRED otherwise. */
  async #readLive(operation: string, key: string, id: string, op: Op): Promise<SessionRead> {
    const read = await readSession(this.#ctx, this.#hints, key, id, op);
    checkLive(STORE, operation, read?.record.expiresAt.getTime(), read?.now ?? 0);
    return read as SessionRead;
  }
}

/** What update's checks need to know of the stored session. */
function storedFacts(record: SessionRecord): StoredSessionFacts {
  return {
    userId: record.userId,
    tenantId: record.tenantId,
    createdAtMs: record.createdAt.getTime(),
    expiresAtMs: record.expiresAt.getTime(),
  };
}
