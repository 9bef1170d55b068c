import {
  ALL_CAPABILITIES,
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
  expired,
  generateSessionId,
  hasControlCharacters,
  notFound,
  OperationDeadlines,
  type RecordRules,
  readClock,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
} from '@sessionkit/core';
import type { Cluster, Redis } from 'ioredis';
import { KeyLayout, userTag } from './keys.js';
import type { RedisSessionStoreOptions } from './options.js';
import { decodeValue, pad, recordHead, recordValue, storedJson } from './record.js';
import {
  CLAIM,
  CLEANUP,
  CREATE,
  DELETE,
  DELETE_USER,
  DROP_POINTER,
  EXTEND,
  GET,
  LIST,
  type Script,
  TOUCH,
  UPDATE,
} from './scripts.js';

const STORE = 'redis';
/** Re-measure the offset between this process's clock and Redis's clock this often. */
const CLOCK_RESYNC_MS = 60_000;
/** A measurement of the Redis clock stays usable this long (clocks drift apart slowly). */
const CLOCK_BOUND_MAX_AGE_MS = 10 * 60_000;
/** A TIME round trip slower than this is measured again a second later. */
const CLOCK_SLOW_SYNC_MS = 20;
/** Extra margin, past operationTimeoutMs, before an unfinished claim of an id may be taken over. */
const CLAIM_LEASE_MARGIN_MS = 1000;
const CLEANUP_BATCH = 256;
const SCAN_COUNT = 512;

type Client = Redis | Cluster;
type Reply = unknown;

function storage(operation: string, message: string, cause?: unknown): SessionError {
  return new SessionError('STORAGE', message, { store: STORE, operation, cause: cause ?? new Error(message) });
}

/** Target record key of a pointer value (`<claimed at ms> <record key>`). */
function pointerTarget(value: string): string {
  return value.slice(value.indexOf(' ') + 1);
}

function isPointerReply(reply: Reply): reply is ['P', string] {
  return Array.isArray(reply) && reply.length === 2 && reply[0] === 'P';
}

/**
 * Sessions on Redis or Redis Cluster through a caller-owned ioredis client.
 *
 * Each session is a hash (the record as core's JSON, plus expiresAt and lastActivityAt
 * fields that touch and extend change in place) expiring at `expiresAt +
 * expiredRetentionMs`; each (tenant, user) has a sorted set of its record keys scored by
 * expiresAt. Every write is one Lua script over one hash slot, so record and index
 * change atomically, on Cluster too. See the README for the key layout.
 */
export class RedisSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;

  private readonly client: Client;
  private readonly rules: RecordRules;
  private readonly keys: KeyLayout;
  private readonly retention: number;
  private readonly timeout: number;
  private readonly cluster: boolean;
  /** A lower bound of (Redis clock - this process's clock), in ms, measured with TIME. */
  private offset: number | undefined;
  private offsetAt = 0;
  private syncedAt = 0;
  private syncing: Promise<void> | undefined;
  private readonly deadlines: OperationDeadlines;

  constructor(options: RedisSessionStoreOptions) {
    assertOptionsObject(STORE, options);
    const client = options.client as unknown;
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof (client as Redis).evalsha !== 'function' ||
      typeof (client as Redis).status !== 'string'
    ) {
      throw new SessionError('INVALID', 'option client must be an ioredis Redis or Cluster instance', {
        store: STORE,
        operation: 'constructor',
        field: 'client',
      });
    }
    const prefix = options.prefix ?? 'sessionkit:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix) || hasControlCharacters(prefix) || prefix.length > 256) {
      throw new SessionError(
        'INVALID',
        'option prefix must be a string of at most 256 characters without `{`, `}` or control characters',
        { store: STORE, operation: 'constructor', field: 'prefix' },
      );
    }
    this.rules = resolveRecordRules(STORE, options);
    this.retention = durationOption(
      STORE,
      'expiredRetentionMs',
      options.expiredRetentionMs,
      DEFAULT_EXPIRED_RETENTION_MS,
      {
        min: 0,
      },
    );
    this.timeout = durationOption(
      STORE,
      'operationTimeoutMs',
      options.operationTimeoutMs,
      DEFAULT_OPERATION_TIMEOUT_MS,
    );
    this.client = client as Client;
    this.cluster = (client as Redis).isCluster === true;
    this.keys = new KeyLayout(prefix);
    this.deadlines = new OperationDeadlines(this.timeout, STORE);
  }

  // ---- plumbing ----------------------------------------------------------------------

  private notReady(operation: string, client: Client | Redis = this.client): SessionError {
    return storage(
      operation,
      `Redis client is not connected (status '${client.status}'); nothing was sent. ` +
        'The store never queues commands; create the client with enableOfflineQueue: false.',
    );
  }

  /**
   * Runs one script by SHA, loading it when Redis answers NOSCRIPT (after a restart).
   * Sends nothing unless the client is connected, so no offline queue ever holds it.
   */
  private script(operation: string, s: Script, keys: string[], args: (string | number)[]): Promise<Reply> {
    if (this.client.status !== 'ready') return Promise.reject(this.notReady(operation));
    return this.client.evalsha(s.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      if (this.client.status !== 'ready') throw this.notReady(operation);
      return this.client.eval(s.source, keys.length, ...keys, ...args);
    });
  }

  /** Bounds `work` by operationTimeoutMs; every failure becomes a SessionError. */
  private timed<T>(operation: string, work: Promise<T>): Promise<T> {
    return this.deadlines.wrap(operation, work);
  }

  /** Measures the Redis clock against ours (TIME), once and then every minute. */
  private syncClock(operation: string): Promise<void> {
    if (!this.syncing) {
      if (this.client.status !== 'ready') return Promise.reject(this.notReady(operation));
      const t0 = Date.now();
      this.syncing = (this.client.time() as Promise<[string | number, string | number]>)
        .then(([s, us]) => {
          const t1 = Date.now();
          // Redis read its clock somewhere between t0 and t1: `server - t1` is the lowest
          // the offset can be. Deadlines built on it fall due early, never late (2 ms for
          // rounding). Each measurement is such a bound, so keep the highest recent one.
          const lowest = Number(s) * 1000 + Math.floor(Number(us) / 1000) - t1 - 2;
          const fresh = this.offset === undefined || t1 - this.offsetAt > CLOCK_BOUND_MAX_AGE_MS;
          if (fresh || lowest > (this.offset as number)) {
            this.offset = lowest;
            this.offsetAt = t1;
          }
          // A slow answer gives a loose bound: measure again soon.
          this.syncedAt = t1 - t0 > CLOCK_SLOW_SYNC_MS ? t1 - CLOCK_RESYNC_MS + 1000 : t1;
        })
        .finally(() => {
          this.syncing = undefined;
        });
    }
    return this.syncing;
  }

  /**
   * Calls `send` with the deadline (Redis time, ms) after which the writes of an
   * operation started at `start` must not run: by then the operation has rejected.
   */
  private withDeadline(operation: string, start: number, send: (deadline: number) => Promise<Reply>): Promise<Reply> {
    const offset = this.offset;
    if (offset === undefined) {
      return this.syncClock(operation).then(() => send(start + (this.offset as number) + this.timeout));
    }
    if (start - this.syncedAt > CLOCK_RESYNC_MS && this.client.status === 'ready') {
      this.syncClock(operation).catch(() => {});
    }
    return send(start + offset + this.timeout);
  }

  private now(): number {
    return readClock(this.rules);
  }

  /**
   * Runs a by-id script on the id's record key; on Cluster, when the id is a
   * caller-chosen one, follows its pointer to the record in the user's slot.
   */
  private byId(operation: string, s: Script, id: string, args: (string | number)[]): Promise<Reply> {
    const rk = this.keys.record(id);
    if (!this.cluster) return this.script(operation, s, [rk], args);
    return this.script(operation, s, [rk, this.keys.pointer(id)], args).then((reply) => {
      if (!isPointerReply(reply)) return reply;
      const target = pointerTarget(reply[1]);
      return this.script(operation, s, [target], args);
    });
  }

  private deadlineMissed(operation: string): SessionError {
    return storage(operation, `Redis ran the write after operationTimeoutMs (${this.timeout} ms); it was not applied`);
  }

  private unexpected(operation: string, reply: Reply): SessionError {
    return storage(operation, `unexpected reply from Redis: ${JSON.stringify(reply)}`);
  }

  private dropPointers(operation: string, pairs: unknown[], from: number): Promise<unknown> {
    const drops: Promise<Reply>[] = [];
    for (let i = from; i + 1 < pairs.length; i += 2) {
      drops.push(this.script(operation, DROP_POINTER, [String(pairs[i + 1])], [String(pairs[i])]));
    }
    return Promise.all(drops);
  }

  // ---- SessionStore ------------------------------------------------------------------

  async create(input: SessionRecord): Promise<string> {
    let generated = false;
    const { record, now, encoded } = checkRecord(this.rules, input, {
      operation: 'create',
      // A generated id starts with the (tenant, user) tag: core calls this once they are valid.
      generateId: (owner) => {
        generated = true;
        return userTag(owner.tenantId, owner.userId) + generateSessionId();
      },
      customIds: true,
      output: 'encoded', // metadata checked and serialised in one walk
    });
    const tag = userTag(record.tenantId, record.userId);
    const id = record.id;
    const ik = this.keys.index(tag, record.tenantId, record.userId);
    const e = record.expiresAt.getTime();
    const pxat = e + this.retention;
    const head = recordHead(record, encoded);
    const args = (deadline: number, pointer: string, pointerKey: string) => [
      deadline,
      recordValue(head, ik, pointer, pointerKey),
      e,
      pxat,
      now,
      this.retention,
    ];
    const start = Date.now();
    const reply = await this.timed(
      'create',
      this.withDeadline('create', start, (deadline) => {
        if (generated || !this.cluster) {
          return this.script('create', CREATE, [this.keys.record(id), ik], args(deadline, '', ''));
        }
        return this.createCustomOnCluster(id, tag, ik, pxat, deadline, args);
      }),
    );
    if (reply === 'OK') return id;
    if (reply === 'C') throw conflict(STORE);
    if (reply === 'D') throw this.deadlineMissed('create');
    throw this.unexpected('create', reply);
  }

  /**
   * Cluster, caller-chosen id: claim the id with a pointer in the id's slot, then write
   * record and index in the user's slot.
   */
  private async createCustomOnCluster(
    id: string,
    tag: string,
    ik: string,
    pxat: number,
    deadline: number,
    args: (deadline: number, pointer: string, pointerKey: string) => (string | number)[],
  ): Promise<Reply> {
    const target = this.keys.customRecord(tag, id);
    const pk = this.keys.pointer(id);
    const lease = this.timeout + CLAIM_LEASE_MARGIN_MS;
    let expected = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.script(
        'create',
        CLAIM,
        [this.keys.record(id), pk],
        [deadline, target, pxat, lease, expected],
      );
      if (r === 'C' || r === 'D') return r;
      if (!Array.isArray(r) || r.length !== 2) throw this.unexpected('create', r);
      if (r[0] === 'OK') return this.script('create', CREATE, [target, ik], args(deadline, String(r[1]), pk));
      // An old claim (older than any create that could still run): taken unless its record exists.
      const old = String(r[1]);
      if (this.client.status !== 'ready') throw this.notReady('create');
      if ((await this.client.exists(pointerTarget(old))) === 1) return 'C';
      expected = old;
    }
    return 'C';
  }

  async get(id: string): Promise<SessionRecord | null> {
    if (!checkId(this.rules, 'get', id)) return null;
    let work: Promise<Reply>;
    if (this.cluster) work = this.byId('get', GET, id, []);
    else if (this.client.status !== 'ready') throw this.notReady('get');
    else work = this.client.get(this.keys.record(id));
    const value = await this.timed('get', work);
    if (value === null || value === undefined) return null;
    const record = decodeValue(value, 'get');
    if (record.id !== id) throw this.unexpected('get', `record of id ${JSON.stringify(record.id)}`);
    if (record.expiresAt.getTime() <= this.now()) throw expired(STORE, 'get');
    return record;
  }

  async update(input: SessionRecord): Promise<void> {
    const { record, now, encoded } = checkRecord(this.rules, input, { operation: 'update', output: 'encoded' });
    if (!checkId(this.rules, 'update', record.id)) throw notFound(STORE, 'update');
    const tag = userTag(record.tenantId, record.userId);
    const ik = this.keys.index(tag, record.tenantId, record.userId);
    const e = record.expiresAt.getTime();
    const head = recordHead(record, encoded);
    const start = Date.now();
    const reply = await this.timed(
      'update',
      this.withDeadline('update', start, (deadline) =>
        this.byId('update', UPDATE, record.id, [
          deadline,
          now,
          head,
          e,
          record.createdAt.getTime(),
          ik,
          this.retention,
          e + this.retention,
        ]),
      ),
    );
    if (reply === 'OK') return;
    if (reply === 'N') throw notFound(STORE, 'update');
    if (reply === 'X') throw expired(STORE, 'update');
    if (reply === 'D') throw this.deadlineMissed('update');
    if (Array.isArray(reply) && reply[0] === 'I') {
      // userId, tenantId (both in the index key) or createdAt differ: name the field.
      checkImmutableFields(this.rules, decodeRecord(storedJson(String(reply[1]), 'update'), STORE), record);
    }
    throw this.unexpected('update', reply);
  }

  async delete(id: string): Promise<void> {
    if (!checkId(this.rules, 'delete', id)) return;
    const start = Date.now();
    const reply = await this.timed(
      'delete',
      this.withDeadline('delete', start, (deadline) =>
        this.byId('delete', DELETE, id, [deadline, this.retention]).then((r) => {
          // On Cluster, a caller-chosen id's pointer goes once its record is gone.
          if (Array.isArray(r) && r[0] === 'OK' && r[1] !== '') {
            return this.script('delete', DROP_POINTER, [String(r[2])], [String(r[1])]).then(() => r);
          }
          return r;
        }),
      ),
    );
    if (reply === 'N' || (Array.isArray(reply) && reply[0] === 'OK')) return;
    if (reply === 'D') throw this.deadlineMissed('delete');
    throw this.unexpected('delete', reply);
  }

  async deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    checkUserArgs(this.rules, 'deleteByUser', userId, tenantId);
    const now = this.now();
    const ik = this.keys.index(userTag(tenantId, userId), tenantId, userId);
    const start = Date.now();
    const reply = await this.timed(
      'deleteByUser',
      this.withDeadline('deleteByUser', start, (deadline) =>
        this.script('deleteByUser', DELETE_USER, [ik], [deadline, now]).then((r) =>
          Array.isArray(r) && r.length > 1 ? this.dropPointers('deleteByUser', r, 1).then(() => r) : r,
        ),
      ),
    );
    if (reply === 'D') throw this.deadlineMissed('deleteByUser');
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') throw this.unexpected('deleteByUser', reply);
    return reply[0];
  }

  async extend(id: string, durationMs: number): Promise<void> {
    const isId = checkId(this.rules, 'extend', id);
    const duration = checkDuration(this.rules, durationMs);
    if (!isId) throw notFound(STORE, 'extend');
    const now = this.now();
    const life = this.rules.maxLifetimeMs ?? -1;
    const start = Date.now();
    const reply = await this.timed(
      'extend',
      this.withDeadline('extend', start, (deadline) =>
        this.byId('extend', EXTEND, id, [
          deadline,
          now,
          duration,
          life,
          this.retention,
          now + duration + this.retention,
        ]),
      ),
    );
    if (reply === 'OK') return;
    if (reply === 'N') throw notFound(STORE, 'extend');
    if (reply === 'X') throw expired(STORE, 'extend');
    if (reply === 'D') throw this.deadlineMissed('extend');
    throw this.unexpected('extend', reply);
  }

  async touch(id: string): Promise<void> {
    if (!checkId(this.rules, 'touch', id)) throw notFound(STORE, 'touch');
    const now = this.now();
    const start = Date.now();
    const reply = await this.timed(
      'touch',
      this.withDeadline('touch', start, (deadline) => this.byId('touch', TOUCH, id, [deadline, now, pad(now)])),
    );
    if (reply === 'OK') return;
    if (reply === 'N') throw notFound(STORE, 'touch');
    if (reply === 'X') throw expired(STORE, 'touch');
    if (reply === 'D') throw this.deadlineMissed('touch');
    throw this.unexpected('touch', reply);
  }

  async listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    checkUserArgs(this.rules, 'listByUser', userId, tenantId);
    const now = this.now();
    const ik = this.keys.index(userTag(tenantId, userId), tenantId, userId);
    const reply = await this.timed('listByUser', this.script('listByUser', LIST, [ik], [now, this.retention]));
    if (!Array.isArray(reply)) throw this.unexpected('listByUser', reply);
    const out: SessionRecord[] = [];
    for (const value of reply) {
      const record = decodeValue(value, 'listByUser');
      if (record.expiresAt.getTime() > now) out.push(record);
    }
    return out.sort(compareSessions);
  }

  /**
   * SCANs the index keys (on Cluster, on every master) in pages and cleans each with one
   * script call per batch of entries. Each backend call is bounded by operationTimeoutMs.
   */
  async cleanupExpired(): Promise<number> {
    const now = this.now();
    const nodes: Redis[] = this.cluster ? (this.client as Cluster).nodes('master') : [this.client as Redis];
    const pattern = this.keys.indexPattern();
    let removed = 0;
    let failed = false;
    const cleanKey = async (ik: string): Promise<void> => {
      let offset = 0;
      while (!failed) {
        const reply = await this.timed(
          'cleanupExpired',
          this.script('cleanupExpired', CLEANUP, [ik], [now, this.retention, CLEANUP_BATCH, offset]),
        );
        if (!Array.isArray(reply) || reply.length < 3) throw this.unexpected('cleanupExpired', reply);
        removed += Number(reply[0]);
        if (reply.length > 3) await this.timed('cleanupExpired', this.dropPointers('cleanupExpired', reply, 3));
        if (Number(reply[1]) >= CLEANUP_BATCH) continue;
        if (Number(reply[2]) < 0) return;
        offset = Number(reply[2]);
      }
    };
    for (const node of nodes) {
      let cursor = '0';
      do {
        if (node.status !== 'ready') throw this.notReady('cleanupExpired', node);
        const page = await this.timed('cleanupExpired', node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
        cursor = page[0];
        try {
          await Promise.all(page[1].map(cleanKey));
        } catch (error) {
          failed = true; // the other keys of this page stop after their current batch
          throw error;
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  /** Stops the store's timeout timer (once operations in flight settle or time out). Never closes or quits the caller's client. */
  async close(): Promise<void> {
    this.deadlines.stop();
  }
}
