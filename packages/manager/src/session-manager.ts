import {
  type JsonValue,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import { type Device, type ManagerState, readState, type Session, wrapMetadata } from './layout.js';
import { type ResolvedOptions, resolveOptions, type SessionManagerOptions } from './options.js';
import { handleOf, isTokenShaped, newToken } from './token.js';

/** What issue takes. */
export interface IssueInput {
  userId: string;
  tenantId: TenantId;
  /** The factors the user signed in with, e.g. `['password']`. @default [] */
  factorsUsed?: string[];
  /** @default 1 */
  assuranceLevel?: number;
  /** The app's metadata (JSON), e.g. the user agent for the devices list. @default null */
  metadata?: JsonValue;
  /** Stored as the record's transactionId. @default '' */
  transactionId?: string;
}

/** What stepUp takes. */
export interface StepUpInput {
  /** The factors used in this step; the new session holds the old ones and these. */
  factorsUsed: string[];
  /** The new level: not lower than the current one (INVALID). */
  assuranceLevel: number;
  /** Replaces the app's metadata. @default the current metadata */
  metadata?: JsonValue;
}

/** A new token for the client (put it in a cookie) and its session. */
export interface Issued {
  token: string;
  session: Session;
}

/** Owner check for revoke: only a session of this user in this tenant is removed. */
export interface Owner {
  userId: string;
  tenantId: TenantId;
}

const STORE = 'manager';
/** Longest token accepted from a stateless store (a JWT); anything longer is not a token. */
const MAX_STATELESS_TOKEN = 16_384;
/** How many handles the in-process touch throttle remembers. */
const TOUCH_MEMORY = 10_000;
/**
 * How long (at least) the store keeps a record stepUp rotated out, whatever the grace, so
 * stepUp can read its mark back (the manager refuses the old token from graceUntil on).
 * Equal to the default grace: with the default, the record expires at graceUntil.
 */
const MARK_KEEP_MS = 5_000;
/** Longest step-up chain revoke follows in each direction. */
const MAX_CHAIN = 100;

interface Found {
  record: SessionRecord;
  state: ManagerState;
  data: JsonValue;
  id: string;
}

/**
 * The session lifecycle over any sessionkit store: issue a token at sign-in, validate it
 * on every request (idle and absolute timeouts), rotate it on step-up, list devices and
 * revoke them. Every method rejects only with a `SessionError`; a backend failure rejects
 * `STORAGE` (never a `null` that would look like "signed out").
 */
export class SessionManager {
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  readonly touchAfterMs: number;
  readonly rotationGraceMs: number;
  /**
   * True when the store cannot keep records under a caller-chosen id (store-jwt): the
   * store's id is the token itself, sessions cannot slide, and only issue, validate,
   * signOut and revokeAll work.
   */
  readonly stateless: boolean;
  readonly #o: ResolvedOptions;
  readonly #store: SessionStore;
  /** The store has update/extend/touch (capabilities are fixed at construction). */
  readonly #mutable: boolean;
  /** handle -> time of the last slide this process wrote (the throttle within one process). */
  readonly #touched = new Map<string, number>();
  /** token -> handle, first in first out (hashCacheSize entries). */
  readonly #hashes = new Map<string, string>();
  /** old handle -> the stepUp running on it in this process (one at a time). */
  readonly #locks = new Map<string, Promise<void>>();

  constructor(options: SessionManagerOptions) {
    this.#o = resolveOptions(options);
    this.#store = this.#o.store;
    this.idleTimeoutMs = this.#o.idleTimeoutMs;
    this.absoluteTimeoutMs = this.#o.absoluteTimeoutMs;
    this.touchAfterMs = this.#o.touchAfterMs;
    this.rotationGraceMs = this.#o.rotationGraceMs;
    this.stateless = !this.#store.capabilities.customIds;
    this.#mutable = this.#store.capabilities.mutate;
  }

  /** The public handle of a token (SHA-256, base64url). */
  handleOf(token: string): Promise<string> {
    return this.#run('handleOf', async () => {
      if (typeof token !== 'string') throw invalid('handleOf', 'token', 'must be a string');
      return handleOf(token);
    });
  }

  /**
   * Starts a session at sign-in. Returns the token (256 random bits, base64url) for the
   * client; the store keeps the session under the token's hash only.
   */
  issue(input: IssueInput): Promise<Issued> {
    return this.#run('issue', async () => {
      if (typeof input !== 'object' || input === null) throw invalid('issue', 'input', 'must be an object');
      const now = this.#now();
      const record: SessionRecord = {
        id: '',
        userId: input.userId,
        tenantId: input.tenantId,
        transactionId: input.transactionId ?? '',
        factorsUsed: input.factorsUsed ?? [],
        assuranceLevel: input.assuranceLevel ?? 1,
        metadata: wrapMetadata({ v: 1 }, input.metadata === undefined ? null : input.metadata),
        createdAt: new Date(now),
        lastActivityAt: new Date(now),
        expiresAt: new Date(now + Math.min(this.idleTimeoutMs, this.absoluteTimeoutMs)),
      };
      if (this.stateless) {
        const token = await this.#store.create(record);
        return { token, session: this.#session({ ...record, id: token }, handleOf(token), false) };
      }
      const token = newToken();
      const handle = handleOf(token);
      await this.#store.create({ ...record, id: handle });
      return { token, session: this.#session({ ...record, id: handle }, handle, false) };
    });
  }

  /**
   * The session of a token, or `null` when the token is missing, malformed, unknown,
   * revoked, expired, idle (`now >= lastActivityAt + idleTimeoutMs`), past its absolute
   * timeout (`now >= createdAt + absoluteTimeoutMs`), or rotated out by stepUp with its
   * grace window over. Slides the idle window with at most one store write per
   * `touchAfterMs`. A backend failure rejects `STORAGE`.
   */
  validate(token: string | null | undefined): Promise<Session | null> {
    if (this.stateless) return this.#run('validate', () => this.#validateStateless(token));
    // The hot path: one store read and one promise step (no nested async functions).
    if (typeof token !== 'string') return Promise.resolve(null);
    let read: Promise<SessionRecord | null>;
    let id: string | undefined = this.#hashes.get(token); // only shaped tokens are cached
    try {
      if (id === undefined) {
        if (!isTokenShaped(token)) return Promise.resolve(null);
        id = this.#handle(token);
      }
      read = this.#store.get(id);
    } catch (error) {
      return Promise.reject(toStorageError(error, STORE, 'validate'));
    }
    const handle = id;
    return read.then(
      (record) => {
        // The clock (or anything else here) may throw: that must reject as a SessionError too,
        // and the rejection handler below does not see errors thrown in this one.
        try {
          return this.#afterRead(record, handle);
        } catch (error) {
          return Promise.reject(toStorageError(error, STORE, 'validate'));
        }
      },
      (error: unknown) => {
        if (SessionError.hasCode(error, 'EXPIRED')) return null;
        throw toStorageError(error, STORE, 'validate');
      },
    );
  }

  /** validate after the store read: the timeouts, then a slide when one is due. */
  #afterRead(record: SessionRecord | null, handle: string): Session | null | Promise<Session | null> {
    if (record === null) return null;
    const parsed = readState(record);
    const now = this.#now();
    if (parsed === undefined || !this.#live(record, parsed.state, now)) return null;
    const rotated = parsed.state.rotatedTo !== undefined;
    if (rotated || !this.#mutable || !this.#needsSlide(record, handle, now)) {
      return this.#session(record, handle, rotated, parsed);
    }
    return this.#slide(record, handle, now).then(
      (slid) => (slid ? this.#session(record, handle, false, parsed) : null),
      (error: unknown) => {
        throw toStorageError(error, STORE, 'validate');
      },
    );
  }

  async #validateStateless(token: unknown): Promise<Session | null> {
    const found = await this.#find(token);
    if (found === undefined) return null;
    return this.#session(found.record, handleOf(found.id), false, found);
  }

  /**
   * Step-up: a new token for the same sign-in at `assuranceLevel` (not lower than the
   * current one: INVALID), holding the old factors and `factorsUsed`. The old token
   * validates for `rotationGraceMs` more, then never again. Resolves `null` when the token
   * does not validate (a token already rotated out included), and for every concurrent
   * stepUp of the same token but one. UNSUPPORTED on a stateless store.
   */
  stepUp(token: string, input: StepUpInput): Promise<Issued | null> {
    return this.#run('stepUp', async () => {
      if (typeof input !== 'object' || input === null) throw invalid('stepUp', 'input', 'must be an object');
      const { assuranceLevel, factorsUsed } = input;
      if (
        typeof assuranceLevel !== 'number' ||
        !Number.isInteger(assuranceLevel) ||
        assuranceLevel !== (assuranceLevel | 0)
      ) {
        throw invalid('stepUp', 'assuranceLevel', 'must be an int32');
      }
      if (!Array.isArray(factorsUsed) || factorsUsed.some((f) => typeof f !== 'string')) {
        throw invalid('stepUp', 'factorsUsed', 'must be an array of strings');
      }
      const caps = this.#store.capabilities;
      if (this.stateless || !caps.mutate || !caps.revoke) {
        throw new SessionError(
          'UNSUPPORTED',
          'needs a store with caller-chosen ids, update and delete (not a stateless store)',
          {
            store: STORE,
            operation: 'stepUp',
          },
        );
      }
      if (!isTokenShaped(token)) return null;
      // One stepUp per old session at a time in this process: a second one waits, then
      // reads the session as rotated and resolves null.
      return this.#exclusive(this.#handle(token), () => this.#stepUp(token, input));
    });
  }

  /**
   * stepUp's writes, in an order that lets only one of several concurrent stepUps win:
   * 1. mark the old record rotated (rotatedTo = the new handle, the grace deadline);
   * 2. read it again: another stepUp (another process) that marked it after us won;
   * 3. create the new record;
   * 4. read the old one again: if it was revoked (or re-marked by another process) since,
   *    delete the new record and resolve null, so a signOut in between cannot leave it alive.
   * Without compare-and-set in the store contract, two processes can still both win when
   * one's whole step 1-4 runs between the other's read and its step 1 (see the README).
   */
  async #stepUp(token: string, input: StepUpInput): Promise<Issued | null> {
    const { assuranceLevel, factorsUsed } = input;
    const found = await this.#find(token);
    if (found === undefined || found.state.rotatedTo !== undefined) return null;
    const { record: old, data, id: oldHandle } = found;
    if (assuranceLevel < old.assuranceLevel) {
      throw invalid('stepUp', 'assuranceLevel', `must not be lower than the session's level (${old.assuranceLevel})`);
    }
    const now = this.#now();
    const newTokenText = newToken();
    const handle = handleOf(newTokenText);
    const created = old.createdAt.getTime();
    const next: SessionRecord = {
      id: handle,
      userId: old.userId,
      tenantId: old.tenantId,
      transactionId: old.transactionId,
      factorsUsed: [...new Set([...old.factorsUsed, ...factorsUsed])],
      assuranceLevel,
      metadata: wrapMetadata({ v: 1, rotatedFrom: oldHandle }, input.metadata === undefined ? data : input.metadata),
      createdAt: old.createdAt,
      lastActivityAt: new Date(now),
      expiresAt: new Date(Math.min(now + this.idleTimeoutMs, created + this.absoluteTimeoutMs)),
    };
    const graceUntil = now + this.rotationGraceMs;
    // The manager reads graceUntil; the store keeps the marked record at least MARK_KEEP_MS
    // (never past its own expiry), so that a short grace (or 0) leaves a valid expiresAt
    // and the mark can still be read back.
    const marked: SessionRecord = {
      ...old,
      metadata: wrapMetadata({ ...found.state, rotatedTo: handle, graceUntil }, data),
      expiresAt: new Date(Math.min(old.expiresAt.getTime(), Math.max(graceUntil, now + MARK_KEEP_MS))),
    };
    try {
      await this.#store.update(marked);
    } catch (error) {
      if (SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED')) return null;
      throw error;
    }
    this.#touched.delete(oldHandle);
    try {
      if (!(await this.#markedFor(oldHandle, handle))) return null; // another stepUp won
      await this.#store.create(next);
    } catch (error) {
      // Nothing was issued: put the old session back as it was, and remove the new record
      // in case the create took effect after all (best effort; if the backend is down this
      // fails too, and the old token ends with its grace window).
      await this.#store.update(old).catch(() => {});
      await this.#store.delete(handle).catch(() => {});
      throw error;
    }
    let won: boolean;
    try {
      won = await this.#markedFor(oldHandle, handle);
    } catch (error) {
      await this.#store.delete(handle).catch(() => {});
      throw error;
    }
    if (!won) {
      // Revoked (or re-marked elsewhere) while the new record was written: take it back.
      await this.#store.delete(handle);
      return null;
    }
    if (this.rotationGraceMs === 0) await this.#store.delete(oldHandle);
    return { token: newTokenText, session: this.#session(next, handle, false) };
  }

  /** True while the stored record `oldHandle` is marked as rotated to `handle`. */
  async #markedFor(oldHandle: string, handle: string): Promise<boolean> {
    const record = await this.#getOrNull(oldHandle);
    return record !== null && readState(record)?.state.rotatedTo === handle;
  }

  /** Runs `body` once no other call holding `key` runs in this process. */
  async #exclusive<T>(key: string, body: () => Promise<T>): Promise<T> {
    for (let busy = this.#locks.get(key); busy !== undefined; busy = this.#locks.get(key)) await busy;
    let release = (): void => {};
    this.#locks.set(
      key,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      return await body();
    } finally {
      this.#locks.delete(key);
      release();
    }
  }

  /**
   * The user's devices: every live session of `userId` in `tenantId` (sessions rotated out
   * by stepUp are not listed; their successor is), ordered by sign-in time. With
   * `currentToken`, that session has `current: true`.
   */
  list(userId: string, tenantId: TenantId, currentToken?: string): Promise<Device[]> {
    return this.#run('list', async () => {
      this.#need('list', 'list');
      const current = isTokenShaped(currentToken) ? this.#handle(currentToken) : undefined;
      const records = await this.#store.listByUser(userId, tenantId);
      const now = this.#now();
      const devices: Device[] = [];
      for (const record of records) {
        const parsed = readState(record);
        if (parsed === undefined || parsed.state.rotatedTo !== undefined || !this.#live(record, parsed.state, now))
          continue;
        devices.push({
          handle: record.id,
          createdAt: record.createdAt,
          lastActivityAt: record.lastActivityAt,
          expiresAt: record.expiresAt,
          assuranceLevel: record.assuranceLevel,
          factorsUsed: record.factorsUsed,
          metadata: parsed.data,
          current: record.id === current,
        });
      }
      return devices;
    });
  }

  /**
   * Revokes the session with this handle and its step-up chain: the sessions it replaced
   * that are still in their grace window, and the session that replaced it (and that one's
   * successors) when it was rotated out. With `owner`, only a session of that user in that
   * tenant is revoked. Resolves true when a session was removed.
   */
  revoke(handle: string, owner?: Owner): Promise<boolean> {
    return this.#run('revoke', async () => {
      if (typeof handle !== 'string') throw invalid('revoke', 'handle', 'must be a string');
      this.#need('revoke', 'revoke');
      if (this.stateless) {
        throw new SessionError('UNSUPPORTED', 'a stateless store cannot revoke by handle: use signOut(token)', {
          store: STORE,
          operation: 'revoke',
        });
      }
      if (!isTokenShaped(handle)) return false;
      const record = await this.#getOrNull(handle);
      if (record === null) return false;
      if (owner !== undefined && (record.userId !== owner.userId || record.tenantId !== owner.tenantId)) return false;
      await this.#store.delete(handle);
      this.#touched.delete(handle);
      await this.#revokeChain(record);
      return true;
    });
  }

  /**
   * Deletes the step-up chain of a revoked record: its successors (rotatedTo, so signing
   * out with an old token in its grace window also ends the token that replaced it) and
   * its predecessors still in grace (rotatedFrom). A link counts only when both records
   * name each other and belong to the same user and tenant; at most MAX_CHAIN each way.
   */
  async #revokeChain(record: SessionRecord): Promise<void> {
    const state = readState(record)?.state;
    for (const [link, back] of [
      ['rotatedTo', 'rotatedFrom'],
      ['rotatedFrom', 'rotatedTo'],
    ] as const) {
      let from = record.id;
      let next = state?.[link];
      for (let i = 0; next !== undefined && i < MAX_CHAIN; i++) {
        const linked = await this.#getOrNull(next);
        const linkedState = linked === null ? undefined : readState(linked)?.state;
        if (linked === null) {
          // Expired (still recorded) or not there (yet: a stepUp that sees its old record
          // gone takes its new one back): delete the id anyway, and stop.
          await this.#store.delete(next);
          break;
        }
        if (
          linkedState === undefined ||
          linked.userId !== record.userId ||
          linked.tenantId !== record.tenantId ||
          linkedState[back] !== from
        ) {
          break;
        }
        await this.#store.delete(next);
        this.#touched.delete(next);
        from = next;
        next = linkedState[link];
      }
    }
  }

  /** Signs out the session of this token (sign-out). Works on a stateless store with revocations too. */
  signOut(token: string): Promise<boolean> {
    return this.#run('signOut', async () => {
      this.#need('signOut', 'revoke');
      if (this.stateless) {
        if (typeof token !== 'string' || token === '' || token.length > MAX_STATELESS_TOKEN) return false;
        const live = (await this.#find(token)) !== undefined;
        await this.#store.delete(token);
        return live;
      }
      if (!isTokenShaped(token)) return false;
      const handle = this.#handle(token);
      this.#hashes.delete(token);
      return this.revoke(handle);
    });
  }

  /**
   * Revokes every other session of the token's user ("sign out other devices"); the
   * token's own session (and its predecessor in grace) stays. Resolves how many were
   * removed; 0 when the token does not validate.
   */
  revokeOthers(token: string): Promise<number> {
    return this.#run('revokeOthers', async () => {
      this.#need('revokeOthers', 'list');
      this.#need('revokeOthers', 'revoke');
      const found = await this.#find(token);
      if (found === undefined || found.state.rotatedTo !== undefined) return 0;
      const keep = new Set([found.id, found.state.rotatedFrom]);
      let removed = 0;
      for (const record of await this.#store.listByUser(found.record.userId, found.record.tenantId)) {
        if (keep.has(record.id)) continue;
        await this.#store.delete(record.id);
        this.#touched.delete(record.id);
        removed++;
      }
      return removed;
    });
  }

  /** Revokes every session of the user in the tenant ("sign out everywhere"); resolves the store's count. */
  revokeAll(userId: string, tenantId: TenantId): Promise<number> {
    return this.#run('revokeAll', async () => {
      this.#need('revokeAll', 'revokeUser');
      return this.#store.deleteByUser(userId, tenantId);
    });
  }

  // --- internals ---------------------------------------------------------------------

  async #run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw toStorageError(error, STORE, operation);
    }
  }

  #now(): number {
    const now = this.#o.clock();
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new SessionError('INVALID', 'clock returned a non-finite value', { store: STORE, field: 'clock' });
    }
    return now;
  }

  #need(operation: string, capability: 'list' | 'revoke' | 'revokeUser'): void {
    if (!this.#store.capabilities[capability]) {
      throw new SessionError('UNSUPPORTED', `the store lacks the "${capability}" capability`, {
        store: STORE,
        operation,
      });
    }
  }

  /** get, with EXPIRED read as "no session". */
  async #getOrNull(id: string): Promise<SessionRecord | null> {
    try {
      return await this.#store.get(id);
    } catch (error) {
      if (SessionError.hasCode(error, 'EXPIRED')) return null;
      throw error;
    }
  }

  /** The live, manager-made session of a token, or undefined. */
  async #find(token: unknown): Promise<Found | undefined> {
    let id: string;
    if (this.stateless) {
      if (typeof token !== 'string' || token === '' || token.length > MAX_STATELESS_TOKEN) return undefined;
      id = token;
    } else {
      if (!isTokenShaped(token)) return undefined;
      id = this.#handle(token);
    }
    const record = await this.#getOrNull(id);
    if (record === null) return undefined;
    const parsed = readState(record);
    if (parsed === undefined || !this.#live(record, parsed.state, this.#now())) return undefined;
    return { record, state: parsed.state, data: parsed.data, id };
  }

  /** The timeouts, at the exact millisecond: a session is over from each deadline on. */
  #live(record: SessionRecord, state: ManagerState, now: number): boolean {
    const idle = this.stateless ? record.createdAt.getTime() : record.lastActivityAt.getTime();
    return (
      now < idle + this.idleTimeoutMs &&
      now < record.createdAt.getTime() + this.absoluteTimeoutMs &&
      now < record.expiresAt.getTime() &&
      (state.graceUntil === undefined || now < state.graceUntil)
    );
  }

  /** True when the stored activity is touchAfterMs old and no slide of this process covers it. */
  #needsSlide(record: SessionRecord, id: string, now: number): boolean {
    if (now - record.lastActivityAt.getTime() < this.touchAfterMs) return false;
    const last = this.#touched.get(id);
    return !(last !== undefined && now - last < this.touchAfterMs && last >= record.lastActivityAt.getTime());
  }

  /** Slides the idle window (one extend); false when the session vanished meanwhile. */
  async #slide(record: SessionRecord, id: string, now: number): Promise<boolean> {
    const expiresAt = Math.min(now + this.idleTimeoutMs, record.createdAt.getTime() + this.absoluteTimeoutMs);
    if (this.#touched.size >= TOUCH_MEMORY) this.#touched.clear();
    this.#touched.set(id, now);
    try {
      await this.#store.extend(id, expiresAt - now);
    } catch (error) {
      this.#touched.delete(id);
      if (SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED')) return false;
      throw error;
    }
    record.lastActivityAt = new Date(now);
    record.expiresAt = new Date(expiresAt);
    return true;
  }

  #handle(token: string): string {
    const max = this.#o.hashCacheSize;
    if (max === 0) return handleOf(token);
    let handle = this.#hashes.get(token);
    if (handle === undefined) {
      handle = handleOf(token);
      if (this.#hashes.size >= max) this.#hashes.delete(this.#hashes.keys().next().value as string);
      this.#hashes.set(token, handle);
    }
    return handle;
  }

  #session(record: SessionRecord, handle: string, rotated: boolean, parsed = readState(record)): Session {
    return {
      handle,
      userId: record.userId,
      tenantId: record.tenantId,
      factorsUsed: record.factorsUsed,
      assuranceLevel: record.assuranceLevel,
      metadata: parsed === undefined ? null : parsed.data,
      createdAt: record.createdAt,
      lastActivityAt: record.lastActivityAt,
      expiresAt: this.#deadline(record, parsed?.state),
      rotated,
    };
  }

  #deadline(record: SessionRecord, state: ManagerState | undefined): Date {
    const idleFrom = this.stateless ? record.createdAt.getTime() : record.lastActivityAt.getTime();
    return new Date(
      Math.min(
        idleFrom + this.idleTimeoutMs,
        record.createdAt.getTime() + this.absoluteTimeoutMs,
        record.expiresAt.getTime(),
        state?.graceUntil ?? Number.POSITIVE_INFINITY,
      ),
    );
  }
}

function invalid(operation: string, field: string, message: string): SessionError {
  return new SessionError('INVALID', `${field} ${message}`, { store: STORE, operation, field });
}
