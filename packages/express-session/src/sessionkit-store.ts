import {
  durationOption,
  hasControlCharacters,
  MAX_IDENTIFIER_LENGTH,
  rejectUnknownOptions,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type TenantId,
  tenantId,
} from '@sessionkit/core';
import expressSession from 'express-session';
import { digestOf, isDigest, sha256 } from './digest.js';
import { asSessionError, invalid, optionError, STORE } from './errors.js';
import {
  ANONYMOUS_PREFIX,
  DEFAULT_TENANT,
  DEFAULT_TOUCH_AFTER_MS,
  DEFAULT_TTL_MS,
  defaultUserOf,
  KNOWN_OPTIONS,
  type SessionData,
  type SessionkitStoreOptions,
} from './options.js';
import { type RecentRead, RecentReads } from './recent-reads.js';
import { encodeSession, reviveSession } from './session-codec.js';

/** How many sessions' last reads are remembered between a request's get and its touch. */
const RECENT_READS = 10_000;
const STORE_METHODS = ['create', 'get', 'update', 'delete', 'deleteByUser', 'extend', 'listByUser'] as const;

type Callback<T = void> = (err?: unknown, value?: T) => void;

/** One of a user's sessions, for a "your devices" page. */
export interface SessionSummary {
  /** The session's handle: safe to show and to revoke by (see {@link SessionkitStore.handleOf}). */
  handle: string;
  /** The session object as the app saved it (Dates as Dates). */
  session: Record<string, unknown>;
  createdAt: Date;
  lastActivityAt: Date;
  expiresAt: Date;
}

function isGone(error: unknown): boolean {
  return SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED');
}

/** Runs `work` and reports to a Node-style callback (outside the promise, so a throwing callback is not swallowed). */
function settle<T>(operation: string, callback: Callback<T> | undefined, work: () => Promise<T>): void {
  let promise: Promise<T>;
  try {
    promise = work();
  } catch (error) {
    promise = Promise.reject(error);
  }
  promise.then(
    (value) => {
      if (callback) process.nextTick(callback, null, value);
    },
    (error) => {
      if (callback) process.nextTick(callback, asSessionError(error, operation));
    },
  );
}

/**
 * An express-session `Store` (also a `@fastify/session` store) over a sessionkit
 * {@link SessionStore}. Each session is a record keyed by the SHA-256 of its session id
 * (unless `hashSessionIds: false`), owned by the user and tenant the options read from
 * the session, expiring with its cookie. `touch` skips the write while the session's last
 * activity is fresher than `touchAfterMs`. Every callback error is a `SessionError`.
 */
export class SessionkitStore extends expressSession.Store {
  /** The sessionkit store underneath, for anything this class does not wrap. */
  readonly store: SessionStore;
  readonly touchAfterMs: number;
  readonly defaultTtlMs: number;
  private readonly hashSessionIds: boolean;
  private readonly userOf: (session: SessionData) => unknown;
  private readonly tenantOf: ((session: SessionData) => unknown) | undefined;
  private readonly tenant: TenantId;
  private readonly clock: () => number;
  private readonly reads = new RecentReads(RECENT_READS);
  /** Recent session ids' handles: a page view asks for one twice (get, then touch or set). */
  private readonly handles = new Map<string, string>();

  constructor(options: SessionkitStoreOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw optionError('options', 'must be an object');
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
    const store = options.store as SessionStore | undefined;
    if (typeof store !== 'object' || store === null || typeof store.capabilities !== 'object') {
      throw optionError('store', 'must be a sessionkit SessionStore (for example a RedisSessionStore)');
    }
    for (const method of STORE_METHODS) {
      if (typeof store[method] !== 'function') throw optionError('store', `has no ${method}() method`);
    }
    if (store.capabilities.customIds === false || store.capabilities.mutate === false) {
      throw optionError(
        'store',
        'cannot keep express-session sessions: it does not take caller-chosen ids or update sessions ' +
          '(store-jwt is stateless: its id is the signed token). Use a server-side store: memory, Redis, PostgreSQL or memcached',
      );
    }
    this.store = store;
    this.touchAfterMs = durationOption(STORE, 'touchAfterMs', options.touchAfterMs, DEFAULT_TOUCH_AFTER_MS, {
      min: 0,
      max: 2 ** 31 - 1,
    });
    this.defaultTtlMs = durationOption(STORE, 'defaultTtlMs', options.defaultTtlMs, DEFAULT_TTL_MS);
    if (options.hashSessionIds !== undefined && typeof options.hashSessionIds !== 'boolean') {
      throw optionError('hashSessionIds', 'must be a boolean');
    }
    this.hashSessionIds = options.hashSessionIds ?? true;
    for (const fn of ['userOf', 'tenantOf', 'clock'] as const) {
      if (options[fn] !== undefined && typeof options[fn] !== 'function') throw optionError(fn, 'must be a function');
    }
    this.userOf = options.userOf ?? defaultUserOf;
    this.tenantOf = options.tenantOf;
    try {
      this.tenant = tenantId(options.tenant ?? DEFAULT_TENANT);
    } catch (error) {
      throw optionError('tenant', `is not a valid tenant id: ${(error as Error).message}`);
    }
    this.clock = options.clock ?? Date.now;
  }

  /**
   * The handle of a session id: the key its record has in the backend (the SHA-256 of the
   * id, base64url), which a page may show and {@link revokeSession} takes. With
   * `hashSessionIds: false` it is the session id itself: never show it then.
   */
  handleOf(sid: string): string {
    if (!this.hashSessionIds) return sid;
    let handle = this.handles.get(sid);
    if (handle === undefined) {
      handle = sha256(sid);
      if (this.handles.size >= RECENT_READS) this.handles.delete(this.handles.keys().next().value as string);
      this.handles.set(sid, handle);
    }
    return handle;
  }

  /** Reads a session: `null` when it is missing or expired. */
  override get(sid: string, callback: (err: unknown, session?: expressSession.SessionData | null) => void): void {
    settle('get', callback as Callback<expressSession.SessionData | null>, () => this.read(sid));
  }

  /** Saves a session: creates it, updates it, or moves it to its new user (see the README). */
  override set(sid: string, session: expressSession.SessionData, callback?: (err?: unknown) => void): void {
    settle('set', callback, () => this.write(sid, session as unknown as SessionData));
  }

  /** Deletes a session (a missing one is fine). */
  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    settle('destroy', callback, async () => {
      const id = this.idOf('destroy', sid);
      this.reads.delete(id);
      await this.store.delete(id);
    });
  }

  /**
   * Moves the session's expiry to its cookie's, unless the session was active within
   * `touchAfterMs` (then it writes nothing). A session deleted meanwhile stays deleted.
   */
  override touch(sid: string, session: expressSession.SessionData, callback?: (err?: unknown) => void): void {
    // The common case, a fresh session, is decided without I/O and calls back at once:
    // express-session's end() then sends the response in one write instead of splitting
    // it around an asynchronous touch.
    if (this.skipsTouch(sid, session as unknown as SessionData)) {
      callback?.(null);
      return;
    }
    settle('touch', callback, () => this.refresh(sid, session as unknown as SessionData));
  }

  /** Every unexpired session of a user (in `tenant`, default the `tenant` option), oldest first. */
  async listSessions(userId: string | number, tenant?: string): Promise<SessionSummary[]> {
    try {
      const records = await this.store.listByUser(this.userIdArg('listSessions', userId), this.tenantArg(tenant));
      const out: SessionSummary[] = [];
      for (const r of records) {
        const session = reviveSession(r.metadata);
        if (session === null) continue;
        out.push({
          handle: r.id,
          session,
          createdAt: r.createdAt,
          lastActivityAt: r.lastActivityAt,
          expiresAt: r.expiresAt,
        });
      }
      return out;
    } catch (error) {
      throw asSessionError(error, 'listSessions');
    }
  }

  /**
   * Deletes the session with this handle if it belongs to `userId` (in `tenant`); resolves
   * whether it did. A handle of another user's session deletes nothing.
   */
  async revokeSession(userId: string | number, handle: string, tenant?: string): Promise<boolean> {
    try {
      const user = this.userIdArg('revokeSession', userId);
      const tenantValue = this.tenantArg(tenant);
      if (typeof handle !== 'string') throw invalid('revokeSession', 'handle', 'must be a string');
      let record: SessionRecord | null;
      try {
        record = await this.store.get(handle);
      } catch (error) {
        if (!SessionError.hasCode(error, 'EXPIRED')) throw error;
        return false;
      }
      if (record === null || record.userId !== user || record.tenantId !== tenantValue) return false;
      this.reads.delete(handle);
      await this.store.delete(handle);
      return true;
    } catch (error) {
      throw asSessionError(error, 'revokeSession');
    }
  }

  /** Deletes every session of a user ("log out everywhere"); resolves how many live ones it removed. */
  async revokeUser(userId: string | number, tenant?: string): Promise<number> {
    try {
      return await this.store.deleteByUser(this.userIdArg('revokeUser', userId), this.tenantArg(tenant));
    } catch (error) {
      throw asSessionError(error, 'revokeUser');
    }
  }

  private idOf(operation: string, sid: unknown): string {
    if (typeof sid !== 'string' || sid.length === 0) throw invalid(operation, 'sid', 'must be a non-empty string');
    if (!this.hashSessionIds && (sid.length > MAX_IDENTIFIER_LENGTH || hasControlCharacters(sid))) {
      throw invalid(operation, 'sid', `must be at most ${MAX_IDENTIFIER_LENGTH} characters with no control characters`);
    }
    return this.handleOf(sid);
  }

  private userIdArg(operation: string, userId: unknown): string {
    if (typeof userId === 'number' && Number.isFinite(userId)) return String(userId);
    if (typeof userId === 'string' && userId.length > 0) return userId;
    throw invalid(operation, 'userId', 'must be a non-empty string or a finite number');
  }

  private tenantArg(tenant: string | undefined): TenantId {
    return tenant === undefined ? this.tenant : tenantId(tenant);
  }

  /** The user of a session, or its own pseudo-user `anon:<sha256 of sid>` when it has none yet. */
  private userIdOf(session: SessionData, sid: string): string {
    let user: unknown;
    try {
      user = this.userOf(session);
    } catch (error) {
      throw new SessionError('INVALID', `userOf threw: ${(error as Error)?.message}`, {
        store: STORE,
        operation: 'set',
        field: 'userOf',
        cause: error,
      });
    }
    if (user === undefined || user === null) return `${ANONYMOUS_PREFIX}${sha256(sid)}`;
    if (typeof user === 'number' && Number.isFinite(user)) return String(user);
    if (typeof user === 'string' && user.length > 0) return user;
    throw invalid('set', 'userOf', 'must return a non-empty string, a finite number, or undefined for no user');
  }

  private tenantIdOf(session: SessionData): TenantId {
    if (!this.tenantOf) return this.tenant;
    let value: unknown;
    try {
      value = this.tenantOf(session);
    } catch (error) {
      throw new SessionError('INVALID', `tenantOf threw: ${(error as Error)?.message}`, {
        store: STORE,
        operation: 'set',
        field: 'tenantOf',
        cause: error,
      });
    }
    try {
      return tenantId(value as string);
    } catch (error) {
      throw invalid('set', 'tenantOf', `returned an invalid tenant: ${(error as Error).message}`);
    }
  }

  /** When the session should expire: its cookie's expiry, or `defaultTtlMs` from now for a browser-session cookie. */
  private expiryOf(session: SessionData, now: number): number {
    const cookie = session.cookie as { expires?: unknown } | undefined;
    const expires = cookie?.expires;
    if (expires instanceof Date || typeof expires === 'string' || typeof expires === 'number') {
      const ms = new Date(expires).getTime();
      if (!Number.isNaN(ms)) return ms;
    }
    return now + this.defaultTtlMs;
  }

  private async read(sid: string): Promise<expressSession.SessionData | null> {
    const id = this.idOf('get', sid);
    let record: SessionRecord | null;
    try {
      record = await this.store.get(id);
    } catch (error) {
      if (!SessionError.hasCode(error, 'EXPIRED')) throw error;
      record = null;
    }
    if (record === null) {
      this.reads.delete(id);
      return null;
    }
    // the record is this call's own (a store hands out copies): its data becomes the session in place
    const session = reviveSession(record.metadata);
    if (session === null) {
      throw new SessionError('STORAGE', `session ${id} holds no session object`, { store: STORE, operation: 'get' });
    }
    const digest = isDigest(record.transactionId) ? record.transactionId : undefined;
    const seen = this.reads.get(id);
    if (seen !== undefined) {
      // the same session read again: its entry, updated in place, moves to the newest end
      seen.userId = record.userId;
      seen.tenantId = record.tenantId;
      seen.createdAt = record.createdAt;
      seen.lastActivityMs = record.lastActivityAt.getTime();
      seen.expiresMs = record.expiresAt.getTime();
      seen.digest = digest;
      this.reads.set(id, seen);
    } else {
      this.reads.set(id, {
        userId: record.userId,
        tenantId: record.tenantId,
        createdAt: record.createdAt,
        lastActivityMs: record.lastActivityAt.getTime(),
        expiresMs: record.expiresAt.getTime(),
        digest,
      });
    }
    return session as unknown as expressSession.SessionData;
  }

  private async write(sid: string, session: SessionData): Promise<void> {
    const id = this.idOf('set', sid);
    if (typeof session !== 'object' || session === null) throw invalid('set', 'session', 'must be an object');
    const now = this.clock();
    const metadata = encodeSession(session);
    const userId = this.userIdOf(session, sid);
    const tenant = this.tenantIdOf(session);
    const expiresMs = this.expiryOf(session, now);
    if (expiresMs <= now) {
      // its cookie has expired: as MemoryStore, keep nothing
      this.reads.delete(id);
      await this.store.delete(id);
      return;
    }
    const digest = digestOf(metadata);
    const seen = this.reads.get(id);
    const record: SessionRecord = {
      id,
      userId,
      tenantId: tenant,
      // the digest of the data: a later read knows what is stored without hashing it again
      transactionId: digest,
      factorsUsed: [],
      assuranceLevel: 0,
      metadata,
      createdAt: new Date(now),
      expiresAt: new Date(expiresMs),
      lastActivityAt: new Date(now),
    };
    if (seen && seen.userId === userId && seen.tenantId === tenant) {
      if (seen.digest === digest && this.fresh(seen, now, expiresMs)) return;
      try {
        await this.store.update({ ...record, createdAt: seen.createdAt });
      } catch (error) {
        // deleted (revoked) or expired since this request read it: it stays gone
        if (isGone(error)) {
          this.reads.delete(id);
          return;
        }
        throw error;
      }
      this.reads.set(id, { ...seen, lastActivityMs: now, expiresMs, digest });
      return;
    }
    if (seen) {
      // The user (or tenant) changed on this session id, a login without regenerate():
      // a record's owner is immutable, so the old record goes first and the new one is
      // created under the new owner. The old id never survives under the old user.
      this.reads.delete(id);
      await this.store.delete(id);
    }
    await this.createOrReplace(record);
    this.reads.set(id, {
      userId,
      tenantId: tenant,
      createdAt: record.createdAt,
      lastActivityMs: now,
      expiresMs,
      digest,
    });
  }

  /** Creates the record; when one with its id exists already (not read by this process), updates or moves it. */
  private async createOrReplace(record: SessionRecord): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.store.create(record);
        return;
      } catch (error) {
        if (!SessionError.hasCode(error, 'CONFLICT')) throw error;
      }
      let existing: SessionRecord | null;
      try {
        existing = await this.store.get(record.id);
      } catch (error) {
        if (!SessionError.hasCode(error, 'EXPIRED')) throw error;
        existing = null;
        await this.store.delete(record.id);
      }
      if (existing === null) continue;
      if (existing.userId === record.userId && existing.tenantId === record.tenantId) {
        try {
          await this.store.update({ ...record, createdAt: existing.createdAt });
          record.createdAt = existing.createdAt;
          return;
        } catch (error) {
          if (!isGone(error)) throw error;
          continue;
        }
      }
      await this.store.delete(record.id);
    }
    throw new SessionError('STORAGE', `set kept racing with other writers of session ${record.id}`, {
      store: STORE,
      operation: 'set',
    });
  }

  /**
   * Whether a touch writes nothing, decided synchronously: the session was read by this
   * process and is fresh, or its cookie has expired. Anything unusual (a bad sid, a clock
   * that throws) answers `false`, and {@link refresh} reports it.
   */
  private skipsTouch(sid: string, session: SessionData): boolean {
    if (typeof sid !== 'string' || sid.length === 0 || typeof session !== 'object' || session === null) return false;
    if (!this.hashSessionIds && (sid.length > MAX_IDENTIFIER_LENGTH || hasControlCharacters(sid))) return false;
    const seen = this.reads.get(this.handleOf(sid));
    if (seen === undefined) return false;
    let now: number;
    try {
      now = this.clock();
    } catch {
      return false;
    }
    if (typeof now !== 'number' || !Number.isFinite(now)) return false;
    const expiresMs = this.expiryOf(session, now);
    return expiresMs <= now || this.fresh(seen, now, expiresMs);
  }

  private async refresh(sid: string, session: SessionData): Promise<void> {
    const id = this.idOf('touch', sid);
    const now = this.clock();
    const seen = this.reads.get(id);
    const expiresMs = this.expiryOf(session, now);
    if (expiresMs <= now) return;
    if (seen && this.fresh(seen, now, expiresMs)) return;
    try {
      await this.store.extend(id, expiresMs - now);
    } catch (error) {
      // deleted (revoked) or expired meanwhile: a touch never brings it back
      if (isGone(error)) {
        this.reads.delete(id);
        return;
      }
      throw error;
    }
    if (seen) this.reads.set(id, { ...seen, lastActivityMs: now, expiresMs });
  }

  /**
   * Whether a write can be skipped: the session was active within `touchAfterMs`, and its
   * stored expiry is still more than half the cookie's remaining life away (so a cookie
   * shorter than `touchAfterMs` never outlives its record while the user is active).
   */
  private fresh(seen: RecentRead, now: number, cookieExpiresMs: number): boolean {
    return now - seen.lastActivityMs < this.touchAfterMs && seen.expiresMs - now > (cookieExpiresMs - now) / 2;
  }
}
