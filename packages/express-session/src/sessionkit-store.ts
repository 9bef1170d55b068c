// The express-session Store: its public methods, and the flow behind them (read, write
// with createOrReplace, skipsTouch (decided without I/O) and refresh) over a sessionkit store.
import {
  hasControlCharacters,
  invalidInput,
  MAX_IDENTIFIER_LENGTH,
  SessionError,
  type SessionRecord,
  type SessionStore,
} from '@sessionkit/core';
import expressSession from 'express-session';
import { type Callback, isGone, settle } from './callbacks.js';
import { digestOf, sha256 } from './digest.js';
import { asSessionError, STORE } from './errors.js';
import { expiryOf, fresh } from './expiry.js';
import { readStoreOptions, type SessionData, type SessionkitStoreOptions } from './options.js';
import { Owners } from './owners.js';
import { RecentReads } from './recent-reads.js';
import { encodeSession, reviveSession } from './session-codec.js';

/** How many sessions' last reads are remembered between a request's get and its touch. */
const RECENT_READS = 10_000;
/** What a session id must be with `hashSessionIds: false` (it is the record's id then). */
const RAW_SID_RULE = `must be at most ${MAX_IDENTIFIER_LENGTH} characters with no control characters`;

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
  private readonly owners: Owners;
  private readonly clock: () => number;
  private readonly reads = new RecentReads(RECENT_READS);
  /** Recent session ids' handles: a page view asks for one twice (get, then touch or set). */
  private readonly handles = new Map<string, string>();

  constructor(options: SessionkitStoreOptions) {
    super();
    const settings = readStoreOptions(options);
    this.store = settings.store;
    this.touchAfterMs = settings.touchAfterMs;
    this.defaultTtlMs = settings.defaultTtlMs;
    this.hashSessionIds = settings.hashSessionIds;
    this.owners = new Owners(settings);
    this.clock = settings.clock;
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
      this.handles.delete(sid);
      await this.store.delete(id);
    });
  }

  /**
   * Moves the session's expiry to its cookie's, unless the session was active within
   * `touchAfterMs` (then it writes nothing). A session deleted meanwhile stays deleted.
   */
  override touch(sid: string, session: expressSession.SessionData, callback?: (err?: unknown) => void): void {
    // The common case, a fresh session, is decided without I/O and calls back on the next
    // tick. Not synchronously: a backend reply that answers the gets of many requests at
    // once (store-redis batches them) then has every request's handler run before their
    // responses are written, one burst of writes, which cost the app about 8% less CPU
    // per page view than writing each response as its handler ends.
    if (this.skipsTouch(sid, session as unknown as SessionData)) {
      if (callback) process.nextTick(callback, null);
      return;
    }
    settle('touch', callback, () => this.refresh(sid, session as unknown as SessionData));
  }

  /** Every unexpired session of a user (in `tenant`, default the `tenant` option), oldest first. */
  async listSessions(userId: string | number, tenant?: string): Promise<SessionSummary[]> {
    try {
      const user = this.owners.userIdArg('listSessions', userId);
      const records = await this.store.listByUser(user, this.owners.tenantArg(tenant));
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
      const user = this.owners.userIdArg('revokeSession', userId);
      const tenantValue = this.owners.tenantArg(tenant);
      if (typeof handle !== 'string') throw invalidInput(STORE, 'revokeSession', 'handle', 'must be a string');
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
      return await this.store.deleteByUser(this.owners.userIdArg('revokeUser', userId), this.owners.tenantArg(tenant));
    } catch (error) {
      throw asSessionError(error, 'revokeUser');
    }
  }

  private idOf(operation: string, sid: unknown): string {
    if (typeof sid !== 'string' || sid.length === 0) {
      throw invalidInput(STORE, operation, 'sid', 'must be a non-empty string');
    }
    if (!this.hashSessionIds && (sid.length > MAX_IDENTIFIER_LENGTH || hasControlCharacters(sid))) {
      throw invalidInput(STORE, operation, 'sid', RAW_SID_RULE);
    }
    return this.handleOf(sid);
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
    this.reads.remember(id, record);
    return session as unknown as expressSession.SessionData;
  }

  private async write(sid: string, session: SessionData): Promise<void> {
    const id = this.idOf('set', sid);
    if (typeof session !== 'object' || session === null) {
      throw invalidInput(STORE, 'set', 'session', 'must be an object');
    }
    const now = this.clock();
    const metadata = encodeSession(session);
    const userId = this.owners.userIdOf(session, sid);
    const tenant = this.owners.tenantIdOf(session);
    const expiresMs = expiryOf(session, now, this.defaultTtlMs);
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
      if (seen.digest === digest && fresh(seen, now, expiresMs, this.touchAfterMs)) return;
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
      this.reads.wrote(id, now, expiresMs, digest);
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
    const expiresMs = expiryOf(session, now, this.defaultTtlMs);
    return expiresMs <= now || fresh(seen, now, expiresMs, this.touchAfterMs);
  }

  private async refresh(sid: string, session: SessionData): Promise<void> {
    const id = this.idOf('touch', sid);
    const now = this.clock();
    const seen = this.reads.get(id);
    const expiresMs = expiryOf(session, now, this.defaultTtlMs);
    if (expiresMs <= now) return;
    if (seen && fresh(seen, now, expiresMs, this.touchAfterMs)) return;
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
    this.reads.wrote(id, now, expiresMs);
  }
}
