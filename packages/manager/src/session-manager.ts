// The SessionManager class and its public methods, reading like the README: issue,
// validate, stepUp, list, revoke, signOut, revokeOthers, revokeAll. Its concerns live in
// files named for them: options.ts, layout.ts (record layout, the API's shapes),
// handles.ts (token -> handle cache), timeouts.ts (idle/absolute/sliding decisions),
// step-up.ts (rotation, one winner per step-up, the chain).
import {
  guard,
  invalidInput,
  type RecordRules,
  readClock,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type TenantId,
  toStorageError,
  unsupported,
} from '@sessionkit/core';
import { HandleCache } from './handles.js';
import {
  type Device,
  type Found,
  getOrNull,
  type Issued,
  type IssueInput,
  type Owner,
  readState,
  type Session,
  type StepUpInput,
  toDevice,
  wrapMetadata,
} from './layout.js';
import { resolveOptions, type SessionManagerOptions, STORE } from './options.js';
import { checkStepUpInput, StepUps } from './step-up.js';
import { Timeouts } from './timeouts.js';
import { handleOf, isTokenShaped, newToken } from './token.js';

/** Longest token accepted from a stateless store (a JWT); anything longer is not a token. */
const MAX_STATELESS_TOKEN = 16_384;

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
  /** The clock, read through core's readClock. */
  readonly #rules: RecordRules;
  readonly #store: SessionStore;
  /** The store has update/extend/touch (capabilities are fixed at construction). */
  readonly #mutable: boolean;
  readonly #handles: HandleCache;
  readonly #timeouts: Timeouts;
  readonly #stepUps: StepUps;

  constructor(options: SessionManagerOptions) {
    const resolved = resolveOptions(options);
    this.#store = resolved.store;
    this.#rules = resolved.rules;
    this.idleTimeoutMs = resolved.idleTimeoutMs;
    this.absoluteTimeoutMs = resolved.absoluteTimeoutMs;
    this.touchAfterMs = resolved.touchAfterMs;
    this.rotationGraceMs = resolved.rotationGraceMs;
    this.stateless = !this.#store.capabilities.customIds;
    this.#mutable = this.#store.capabilities.mutate;
    this.#handles = new HandleCache(resolved.hashCacheSize);
    this.#timeouts = new Timeouts(resolved, this.#store, this.stateless);
    this.#stepUps = new StepUps(this.#store, this.#timeouts, this.rotationGraceMs, () => this.#now());
  }

  /** The public handle of a token (SHA-256, base64url). */
  handleOf(token: string): Promise<string> {
    return guard(STORE, 'handleOf', () => {
      if (typeof token !== 'string') throw invalidInput(STORE, 'handleOf', 'token', 'must be a string');
      return handleOf(token);
    });
  }

  /**
   * Starts a session at sign-in. Returns the token (256 random bits, base64url) for the
   * client; the store keeps the session under the token's hash only.
   */
  issue(input: IssueInput): Promise<Issued> {
    return guard(STORE, 'issue', async () => {
      if (typeof input !== 'object' || input === null) throw invalidInput(STORE, 'issue', 'input', 'must be an object');
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
        expiresAt: new Date(this.#timeouts.expiry(now, now)),
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
    if (this.stateless) return guard(STORE, 'validate', () => this.#validateStateless(token));
    // The hot path: one store read and one promise step (no nested async functions), so
    // guard's work is written inline: try/catch + toStorageError.
    if (typeof token !== 'string') return Promise.resolve(null);
    let read: Promise<SessionRecord | null>;
    let id: string | undefined = this.#handles.cached(token); // only shaped tokens are cached
    try {
      if (id === undefined) {
        if (!isTokenShaped(token)) return Promise.resolve(null);
        id = this.#handles.handle(token);
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
    if (parsed === undefined || !this.#timeouts.live(record, parsed.state, now)) return null;
    const rotated = parsed.state.rotatedTo !== undefined;
    if (rotated || !this.#mutable || !this.#timeouts.needsSlide(record, handle, now)) {
      return this.#session(record, handle, rotated, parsed);
    }
    return this.#timeouts.slide(record, handle, now).then(
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
    return guard(STORE, 'stepUp', () => {
      checkStepUpInput(input);
      const caps = this.#store.capabilities;
      if (this.stateless || !caps.mutate || !caps.revoke) {
        throw unsupported(
          STORE,
          'stepUp',
          'needs a store with caller-chosen ids, update and delete (not a stateless store)',
        );
      }
      if (!isTokenShaped(token)) return null;
      // One stepUp per old session at a time in this process: a second one waits, then
      // reads the session as rotated and resolves null.
      return this.#stepUps.exclusive(this.#handles.handle(token), async () => {
        const found = await this.#find(token);
        if (found === undefined || found.state.rotatedTo !== undefined) return null;
        const next = await this.#stepUps.rotate(found, input);
        return next === null ? null : { token: next.token, session: this.#session(next.record, next.record.id, false) };
      });
    });
  }

  /**
   * The user's devices: every live session of `userId` in `tenantId` (sessions rotated out
   * by stepUp are not listed; their successor is), ordered by sign-in time. With
   * `currentToken`, that session has `current: true`.
   */
  list(userId: string, tenantId: TenantId, currentToken?: string): Promise<Device[]> {
    return guard(STORE, 'list', async () => {
      this.#need('list', 'list');
      const current = isTokenShaped(currentToken) ? this.#handles.handle(currentToken) : undefined;
      const records = await this.#store.listByUser(userId, tenantId);
      const now = this.#now();
      const devices: Device[] = [];
      for (const record of records) {
        const parsed = readState(record);
        if (parsed === undefined || parsed.state.rotatedTo !== undefined) continue; // rotated out: not listed
        if (!this.#timeouts.live(record, parsed.state, now)) continue;
        devices.push(toDevice(record, parsed.data, current));
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
    return guard(STORE, 'revoke', async () => {
      if (typeof handle !== 'string') throw invalidInput(STORE, 'revoke', 'handle', 'must be a string');
      this.#need('revoke', 'revoke');
      if (this.stateless)
        throw unsupported(STORE, 'revoke', 'a stateless store cannot revoke by handle: use signOut(token)');
      if (!isTokenShaped(handle)) return false;
      const record = await getOrNull(this.#store, handle);
      if (record === null) return false;
      if (owner !== undefined && (record.userId !== owner.userId || record.tenantId !== owner.tenantId)) return false;
      await this.#store.delete(handle);
      this.#timeouts.forget(handle);
      await this.#stepUps.revokeChain(record);
      return true;
    });
  }

  /** Signs out the session of this token (sign-out). Works on a stateless store with revocations too. */
  signOut(token: string): Promise<boolean> {
    return guard(STORE, 'signOut', async () => {
      this.#need('signOut', 'revoke');
      if (this.stateless) {
        if (typeof token !== 'string' || token === '' || token.length > MAX_STATELESS_TOKEN) return false;
        const live = (await this.#find(token)) !== undefined;
        await this.#store.delete(token);
        return live;
      }
      if (!isTokenShaped(token)) return false;
      const handle = this.#handles.handle(token);
      this.#handles.forget(token);
      return this.revoke(handle);
    });
  }

  /**
   * Revokes every other session of the token's user ("sign out other devices"); the
   * token's own session (and its predecessor in grace) stays. Resolves how many were
   * removed; 0 when the token does not validate.
   */
  revokeOthers(token: string): Promise<number> {
    return guard(STORE, 'revokeOthers', async () => {
      this.#need('revokeOthers', 'list');
      this.#need('revokeOthers', 'revoke');
      const found = await this.#find(token);
      if (found === undefined || found.state.rotatedTo !== undefined) return 0;
      const keep = new Set([found.id, found.state.rotatedFrom]);
      let removed = 0;
      for (const record of await this.#store.listByUser(found.record.userId, found.record.tenantId)) {
        if (keep.has(record.id)) continue;
        await this.#store.delete(record.id);
        this.#timeouts.forget(record.id);
        removed++;
      }
      return removed;
    });
  }

  /** Revokes every session of the user in the tenant ("sign out everywhere"); resolves the store's count. */
  revokeAll(userId: string, tenantId: TenantId): Promise<number> {
    return guard(STORE, 'revokeAll', () => {
      this.#need('revokeAll', 'revokeUser');
      return this.#store.deleteByUser(userId, tenantId);
    });
  }

  // --- internals ---------------------------------------------------------------------

  /** The clock's reading (INVALID `clock` when it is not a finite number). */
  #now(): number {
    return readClock(this.#rules);
  }

  #need(operation: string, capability: 'list' | 'revoke' | 'revokeUser'): void {
    if (!this.#store.capabilities[capability]) {
      throw unsupported(STORE, operation, `the store lacks the "${capability}" capability`);
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
      id = this.#handles.handle(token);
    }
    const record = await getOrNull(this.#store, id);
    if (record === null) return undefined;
    const parsed = readState(record);
    if (parsed === undefined || !this.#timeouts.live(record, parsed.state, this.#now())) return undefined;
    return { record, state: parsed.state, data: parsed.data, id };
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
      expiresAt: this.#timeouts.deadline(record, parsed?.state),
      rotated,
    };
  }
}
