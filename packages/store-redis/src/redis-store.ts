import { randomBytes } from 'node:crypto';
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
  instrumentStore,
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
  withTimeout,
} from '@sessionkit/core';
import type { Cluster, Redis } from 'ioredis';
import { KeyLayout, UserTags } from './keys.js';
import { KNOWN_OPTIONS, type RedisSessionStoreOptions } from './options.js';
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
  SECRET,
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
/** Entries of one user's index that one listByUser or deleteByUser script call handles. */
const USER_PAGE = 500;
/** When a write needs the tag secret's key to live past its known expiry, push it this much further. */
const SECRET_STEP_MS = 86_400_000;
const SCAN_COUNT = 512;

type Client = Redis | Cluster;
type Reply = unknown;

function storage(operation: string, message: string, cause?: unknown): SessionError {
  return new SessionError('STORAGE', message, { store: STORE, operation, cause: cause ?? new Error(message) });
}

/** The tagSecret option: a string of 32 to 1024 characters without control characters. */
function tagSecretOption(value: unknown): string {
  if (typeof value !== 'string' || value.length < 32 || value.length > 1024 || hasControlCharacters(value)) {
    throw new SessionError(
      'INVALID',
      'option tagSecret must be a string of 32 to 1024 characters without control characters',
      { store: STORE, operation: 'constructor', field: 'tagSecret' },
    );
  }
  return value;
}

/** Target record key of a pointer value (`<claimed at ms> <record key>`). */
function pointerTarget(value: string): string {
  return value.slice(value.indexOf(' ') + 1);
}

/**
 * The shape of a reply for an error message: its type, length, and the short status
 * codes the scripts answer with. Never its text: a reply may hold a stored record
 * (userId, metadata), and messages end up in logs.
 */
export function replyShape(reply: Reply, depth = 0): string {
  if (reply === null || reply === undefined) return 'nil';
  if (typeof reply === 'number') return 'integer';
  if (typeof reply === 'string' || Buffer.isBuffer(reply)) {
    const text = String(reply);
    return /^[A-Z]{1,2}$/.test(text) ? `'${text}'` : `string (${text.length} characters)`;
  }
  if (Array.isArray(reply)) {
    if (depth > 0) return `array (${reply.length})`;
    const head = reply
      .slice(0, 3)
      .map((item) => replyShape(item, depth + 1))
      .join(', ');
    return `array (${reply.length}: ${head}${reply.length > 3 ? ', ...' : ''})`;
  }
  return typeof reply;
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
  private readonly maxSessionsPerUser: number;
  /** Tags of (tenant, user) under the tag secret, once loaded from Redis. */
  private tags: UserTags | undefined;
  /** The tag secret's key lives at least until then (ms, Redis clock). */
  private secretUntil = 0;
  private loadingSecret: Promise<void> | undefined;
  private tagSecret: string | undefined;
  /** When the tag secret was last read (Date.now()): it is read again once a minute. */
  private secretCheckedAt = 0;
  /** Redis holds another tag secret than this store's: operations needing a tag reject. */
  private secretMismatch = false;
  /** The secret came from the tagSecret option: the key in Redis is neither read nor written. */
  private readonly fixedSecret: boolean;

  constructor(options: RedisSessionStoreOptions) {
    assertOptionsObject(STORE, options);
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
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
    this.maxSessionsPerUser = maxSessionsPerUserOption(STORE, options.maxSessionsPerUser);
    this.client = client as Client;
    this.cluster = (client as Redis).isCluster === true;
    this.keys = new KeyLayout(prefix);
    this.deadlines = new OperationDeadlines(this.timeout, STORE);
    this.fixedSecret = options.tagSecret !== undefined;
    if (options.tagSecret !== undefined) {
      this.tagSecret = tagSecretOption(options.tagSecret);
      this.tags = new UserTags(Buffer.from(this.tagSecret));
      this.secretUntil = Number.POSITIVE_INFINITY;
    }
    instrumentStore(this, STORE, options.telemetry);
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
   * The (tenant, user) tags, once the tag secret is known and its key lives at least
   * until `until` (ms): synchronously on the hot path, otherwise after one SECRET script
   * (the first call, and when a write goes past the key's known expiry, about once a day).
   */
  private userTags(operation: string, until: number): UserTags | Promise<UserTags> {
    if (this.tags !== undefined && (this.fixedSecret || (until <= this.secretUntil && !this.secretMismatch))) {
      // Once a minute, in the background: the key is written back with this store's secret
      // if it was lost (a restart without persistence), so stores on the prefix keep agreeing.
      if (
        !this.fixedSecret &&
        Date.now() - this.secretCheckedAt > CLOCK_RESYNC_MS &&
        this.loadingSecret === undefined
      ) {
        this.loadSecret(operation, 0).catch(() => {});
      }
      return this.tags;
    }
    return this.loadSecret(operation, until).then(() => this.userTags(operation, until));
  }

  /**
   * Reads the tag secret's key (making it, or writing this store's secret back when it is
   * missing) and pushes its expiry. A store that already knows a secret never switches to
   * another: when the key holds a different one, every operation that needs a user's tag
   * rejects STORAGE (and reads the key again) until the key holds this store's secret.
   */
  private loadSecret(operation: string, until: number): Promise<void> {
    if (this.loadingSecret) return this.loadingSecret;
    const candidate = this.tagSecret ?? randomBytes(32).toString('base64url');
    this.secretCheckedAt = Date.now();
    // Push the expiry a day past `until` when it is needed; otherwise keep (or, for a key
    // that was lost, restore) the expiry already known.
    const want = until > this.secretUntil ? until + SECRET_STEP_MS : this.secretUntil;
    this.loadingSecret = this.script(operation, SECRET, [this.keys.secret()], [candidate, want])
      .then((reply) => {
        if (!Array.isArray(reply) || typeof reply[0] !== 'string' || reply[0].length < 32) {
          throw this.unexpected(operation, reply);
        }
        const secret = reply[0];
        const at = Number(reply[1]);
        if (this.tags !== undefined && this.tagSecret !== secret) {
          this.secretMismatch = true;
          throw storage(
            operation,
            `the tag secret in Redis (key ${this.keys.secret()}) is not the one this store uses: ` +
              'the key was lost and another store made a new secret. This store refuses to switch, so ' +
              'that indexes written under its secret are not silently lost; put its secret back ' +
              '(or give every store the same tagSecret option)',
          );
        }
        this.secretMismatch = false;
        if (this.tags === undefined) {
          this.tags = new UserTags(Buffer.from(secret));
          this.tagSecret = secret;
        }
        this.secretUntil = at > 0 ? at : want;
      })
      .finally(() => {
        this.loadingSecret = undefined;
      });
    return this.loadingSecret;
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

  /** A reply the store cannot use; the message names its shape only, never stored data. */
  private unexpected(operation: string, reply: Reply): SessionError {
    return storage(operation, `unexpected reply from Redis: ${replyShape(reply)}`);
  }

  private dropPointers(operation: string, pairs: unknown[], from: number): Promise<unknown> {
    const drops: Promise<Reply>[] = [];
    for (let i = from; i + 1 < pairs.length; i += 2) {
      drops.push(this.script(operation, DROP_POINTER, [String(pairs[i + 1])], [String(pairs[i])]));
    }
    return Promise.all(drops);
  }

  // ---- SessionStore ------------------------------------------------------------------
  // Each public method turns anything thrown on its way (a metadata getter or a clock
  // that throws, a driver error) into a SessionError: STORAGE unless it already is one.

  /**
   * `work` bounded by operationTimeoutMs counted from `start`: the store's shared timer
   * on the hot path, a timer of the time left when the operation first waited for the
   * tag secret (`slow`).
   */
  private bounded<T>(operation: string, start: number, slow: boolean, work: Promise<T>): Promise<T> {
    if (!slow) return this.timed(operation, work);
    return withTimeout(work, Math.max(1, start + this.timeout - Date.now()), STORE, operation);
  }

  async create(input: SessionRecord): Promise<string> {
    try {
      return await this.doCreate(input, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  private async doCreate(input: SessionRecord, start: number): Promise<string> {
    let slow = false;
    let tags = this.tags;
    if (tags === undefined) {
      slow = true;
      tags = await this.bounded('create', start, true, Promise.resolve(this.userTags('create', 0)));
    }
    for (;;) {
      let generated = false;
      const current: UserTags = tags;
      const { record, now, encoded } = checkRecord(this.rules, input, {
        operation: 'create',
        // On Cluster a generated id starts with the (tenant, user) tag, so its record lands in
        // the user's slot (core calls this once they are valid). A single Redis has no slots:
        // its ids are only the random part, so they do not show which belong to one user.
        generateId: (owner) => {
          generated = true;
          return this.cluster ? current.of(owner.tenantId, owner.userId) + generateSessionId() : generateSessionId();
        },
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      const e = record.expiresAt.getTime();
      const pxat = e + this.retention;
      const latest = this.userTags('create', pxat);
      if (latest !== current) {
        slow = true;
        tags = await this.bounded('create', start, true, Promise.resolve(latest));
        // The secret changed (its key was lost and made again): tag and id again.
        if (tags !== current) continue;
      }
      const tag = current.of(record.tenantId, record.userId);
      const id = record.id;
      const ik = this.keys.index(tag, record.tenantId, record.userId);
      const head = recordHead(record, encoded);
      const args = (deadline: number, pointer: string, pointerKey: string) => [
        deadline,
        recordValue(head, ik, pointer, pointerKey),
        e,
        pxat,
        now,
        this.retention,
        this.maxSessionsPerUser,
      ];
      const reply = await this.bounded(
        'create',
        start,
        slow,
        this.withDeadline('create', start, (deadline) => {
          const sent =
            generated || !this.cluster
              ? this.script('create', CREATE, [this.keys.record(id), ik], args(deadline, '', ''))
              : this.createCustomOnCluster(id, tag, ik, pxat, deadline, args);
          // Evicted caller-chosen ids on Cluster: their pointers go too.
          return sent.then((r) =>
            Array.isArray(r) && r[0] === 'OK' && r.length > 1 ? this.dropPointers('create', r, 1).then(() => 'OK') : r,
          );
        }),
      );
      if (reply === 'OK') return id;
      if (reply === 'C') throw conflict(STORE);
      if (reply === 'D') throw this.deadlineMissed('create');
      throw this.unexpected('create', reply);
    }
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
    try {
      // A generated id needs one pattern test (validity and tag); any other string the full checks.
      let key = typeof id === 'string' ? this.keys.generatedRecord(id) : undefined;
      if (key === undefined) {
        if (!checkId(this.rules, 'get', id)) return null;
        if (!this.cluster) key = this.keys.record(id);
      }
      let work: Promise<Reply>;
      if (this.cluster) work = this.byId('get', GET, id, []);
      else if (this.client.status !== 'ready') throw this.notReady('get');
      else work = this.client.get(key as string);
      const value = await this.timed('get', work);
      if (value === null || value === undefined) return null;
      const record = decodeValue(value, 'get');
      if (record.id !== id) throw this.unexpected('get', `record of id ${JSON.stringify(record.id)}`);
      if (record.expiresAt.getTime() <= this.now()) throw expired(STORE, 'get');
      return record;
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  async update(input: SessionRecord): Promise<void> {
    try {
      await this.doUpdate(input, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'update');
    }
  }

  private async doUpdate(input: SessionRecord, start: number): Promise<void> {
    const { record, now, encoded } = checkRecord(this.rules, input, { operation: 'update', output: 'encoded' });
    if (!checkId(this.rules, 'update', record.id)) throw notFound(STORE, 'update');
    const e = record.expiresAt.getTime();
    let tags = this.userTags('update', e + this.retention);
    const slow = tags instanceof Promise;
    if (slow) tags = await this.bounded('update', start, true, tags as Promise<UserTags>);
    const tag = (tags as UserTags).of(record.tenantId, record.userId);
    const ik = this.keys.index(tag, record.tenantId, record.userId);
    const head = recordHead(record, encoded);
    const reply = await this.bounded(
      'update',
      start,
      slow,
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
    try {
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
    } catch (error) {
      throw toStorageError(error, STORE, 'delete');
    }
  }

  /**
   * One script call per page of USER_PAGE index entries, until the index is empty. A
   * deleteByUser that rejects (timeout, Redis down) may have removed some pages already.
   */
  async deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    try {
      return await this.doDeleteByUser(userId, tenantId, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'deleteByUser');
    }
  }

  private async doDeleteByUser(userId: string, tenantId: TenantId, start: number): Promise<number> {
    checkUserArgs(this.rules, 'deleteByUser', userId, tenantId);
    const now = this.now();
    let tags = this.userTags('deleteByUser', 0);
    const slow = tags instanceof Promise;
    if (slow) tags = await this.bounded('deleteByUser', start, true, tags as Promise<UserTags>);
    const ik = this.keys.index((tags as UserTags).of(tenantId, userId), tenantId, userId);
    const run = async (deadline: number): Promise<number> => {
      let count = 0;
      for (;;) {
        const r = await this.script('deleteByUser', DELETE_USER, [ik], [deadline, now, USER_PAGE, this.retention]);
        if (r === 'D') throw this.deadlineMissed('deleteByUser');
        if (!Array.isArray(r) || typeof r[0] !== 'number') throw this.unexpected('deleteByUser', r);
        if (r.length > 2) await this.dropPointers('deleteByUser', r, 2);
        count += r[0];
        if (r[1] !== 1) return count;
      }
    };
    const reply = await this.bounded(
      'deleteByUser',
      start,
      slow,
      this.withDeadline('deleteByUser', start, (deadline) => run(deadline)),
    );
    return reply as number;
  }

  async extend(id: string, durationMs: number): Promise<void> {
    try {
      await this.doExtend(id, durationMs, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'extend');
    }
  }

  private async doExtend(id: string, durationMs: number, start: number): Promise<void> {
    const isId = checkId(this.rules, 'extend', id);
    const duration = checkDuration(this.rules, durationMs);
    if (!isId) throw notFound(STORE, 'extend');
    const now = this.now();
    const life = this.rules.maxLifetimeMs ?? -1;
    // The index may now expire later: the tag secret's key must outlive it.
    const tags = this.userTags('extend', now + duration + this.retention);
    const slow = tags instanceof Promise;
    if (slow) await this.bounded('extend', start, true, tags);
    const reply = await this.bounded(
      'extend',
      start,
      slow,
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
    try {
      let key = typeof id === 'string' ? this.keys.generatedRecord(id) : undefined;
      if (key === undefined && !checkId(this.rules, 'touch', id)) throw notFound(STORE, 'touch');
      // Whole ms: a clock with a fraction would overrun the header's 17 characters
      // (expiry compares the same: an integer expiresAt <= now exactly when <= floor(now)).
      const at = pad(Math.floor(this.now()));
      const start = Date.now();
      const offset = this.offset;
      let work: Promise<Reply>;
      if (!this.cluster && offset !== undefined && start - this.syncedAt <= CLOCK_RESYNC_MS) {
        // The hot path (single Redis, clock offset fresh): one EVALSHA, no intermediate arrays.
        if (this.client.status !== 'ready') throw this.notReady('touch');
        key ??= this.keys.record(id);
        const deadline = start + offset + this.timeout;
        const client = this.client;
        work = client.evalsha(TOUCH.sha, 1, key, deadline, at).catch((error: unknown) => {
          if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
          if (client.status !== 'ready') throw this.notReady('touch');
          return client.eval(TOUCH.source, 1, key as string, deadline, at);
        });
      } else {
        work = this.withDeadline('touch', start, (deadline) => this.byId('touch', TOUCH, id, [deadline, at]));
      }
      const reply = await this.timed('touch', work);
      if (reply === 'OK') return;
      if (reply === 'N') throw notFound(STORE, 'touch');
      if (reply === 'X') throw expired(STORE, 'touch');
      if (reply === 'D') throw this.deadlineMissed('touch');
      throw this.unexpected('touch', reply);
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  /** One script call per page of USER_PAGE unexpired index entries. */
  async listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    try {
      return await this.doListByUser(userId, tenantId, Date.now());
    } catch (error) {
      throw toStorageError(error, STORE, 'listByUser');
    }
  }

  private async doListByUser(userId: string, tenantId: TenantId, start: number): Promise<SessionRecord[]> {
    checkUserArgs(this.rules, 'listByUser', userId, tenantId);
    const now = this.now();
    let tags = this.userTags('listByUser', 0);
    const slow = tags instanceof Promise;
    if (slow) tags = await this.bounded('listByUser', start, true, tags as Promise<UserTags>);
    const ik = this.keys.index((tags as UserTags).of(tenantId, userId), tenantId, userId);
    const pages = (deadline: number): Promise<Reply[]> => {
      const values: Reply[] = [];
      const next = (score: string, member: string): Promise<Reply[]> =>
        this.script('listByUser', LIST, [ik], [deadline, now, this.retention, USER_PAGE, score, member]).then((r) => {
          if (!Array.isArray(r) || r.length < 2) throw this.unexpected('listByUser', r);
          for (let i = 2; i < r.length; i++) values.push(r[i]);
          if (r[0] === -1) return values;
          // The next page starts after the last (score, member) this one read.
          return next(String(r[0]), String(r[1]));
        });
      return next('', '');
    };
    const values = (await this.bounded(
      'listByUser',
      start,
      slow,
      this.withDeadline('listByUser', start, (deadline) => pages(deadline)),
    )) as Reply[];
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

  /**
   * SCANs the index keys (on Cluster, on every master) in pages and cleans each with one
   * script call per batch of entries. Each backend call is bounded by operationTimeoutMs.
   */
  async cleanupExpired(): Promise<number> {
    try {
      return await this.doCleanupExpired();
    } catch (error) {
      throw toStorageError(error, STORE, 'cleanupExpired');
    }
  }

  /**
   * A master ioredis has not connected yet (status `wait`: Cluster nodes connect lazily, on
   * their first command) is connected here, within operationTimeoutMs; one connecting
   * already is waited for. A node closed or reconnecting rejects at once.
   */
  private async readyNode(node: Redis): Promise<void> {
    if (node.status === 'ready') return;
    if (node.status === 'wait') {
      await this.timed('cleanupExpired', node.connect());
    } else if (node.status === 'connecting' || node.status === 'connect') {
      await this.timed(
        'cleanupExpired',
        new Promise<void>((resolve, reject) => {
          const ready = () => {
            node.off('close', closed);
            resolve();
          };
          const closed = () => {
            node.off('ready', ready);
            reject(this.notReady('cleanupExpired', node));
          };
          node.once('ready', ready);
          node.once('close', closed);
        }),
      );
    }
    if ((node.status as string) !== 'ready') throw this.notReady('cleanupExpired', node);
  }

  private async doCleanupExpired(): Promise<number> {
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
        if (node.status !== 'ready') {
          // The caller's own Redis client is theirs to connect; Cluster nodes are ioredis's.
          if (!this.cluster) throw this.notReady('cleanupExpired', node);
          await this.readyNode(node);
        }
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
