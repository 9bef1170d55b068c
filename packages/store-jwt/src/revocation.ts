// Revocations: the RevocationStore interface a caller implements, the in-process
// MemoryRevocationStore, and RevocationCalls, how the store calls either
// (the memory one synchronously, any other within `operationTimeoutMs`, every failure
// `STORAGE`).
import { guard, OperationDeadlines, storageError } from '@sessionkit/core';
import { STORE } from './constants.js';

/**
 * What a revocation check needs to know about a token (all of it comes from the verified token).
 */
export interface RevocationCheck {
  /** The token's `jti` (a random id, unique per token). */
  readonly jti: string;
  readonly tenantId: string;
  readonly userId: string;
  /** When the store signed the token, ms since the epoch. */
  readonly signedAt: number;
  /** The session's `expiresAt`, ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Where a {@link JwtSessionStore} keeps revocations: a denylist of token ids (`jti`),
 * each kept until its token expires, and a per-(tenant, user) "revoked before" time.
 *
 * Every method may reject; the store turns a rejection (or a call that takes longer
 * than `operationTimeoutMs`) into a `STORAGE` error. All times are ms since the epoch and
 * come from the store's clock.
 */
export interface RevocationStore {
  /**
   * Denies `jti` until at least `expiresAt` (the token's own expiry): keep the entry until
   * then, or longer. Called by `delete`.
   */
  revokeToken(jti: string, expiresAt: number, now: number): Promise<void>;
  /**
   * Denies every token of (`tenantId`, `userId`) signed at or before `revokedAt`. When
   * an entry exists, keep the later time. The store passes its now plus its
   * `clockToleranceMs` as `revokedAt` (so a signer whose clock runs ahead by up to the
   * tolerance is covered). `keepUntil` is when no token the entry denies can still be
   * valid (`revokedAt + maxLifetimeMs + clockToleranceMs`, when the store has
   * `maxLifetimeMs`); `undefined` means keep the entry indefinitely. Called by
   * `deleteByUser`.
   */
  revokeUser(tenantId: string, userId: string, revokedAt: number, keepUntil: number | undefined): Promise<void>;
  /**
   * True when the token's `jti` is denied or its `signedAt` is at or before its user's
   * "revoked before" time. Called by every `get` of a valid token: make it one round trip.
   */
  isRevoked(token: RevocationCheck, now: number): Promise<boolean>;
  /**
   * Drops denylist entries whose tokens have expired (`expiresAt <= now`) and user
   * entries past their `keepUntil`, and resolves with how many denylist (token) entries
   * it dropped. A store whose backend expires entries itself (Redis `PXAT`) resolves 0.
   */
  cleanupExpired(now: number): Promise<number>;
}

interface UserEntry {
  revokedAt: number;
  keepUntil: number; // Infinity: indefinitely
}

/** Sweep a few expired entries on write once the denylist holds this many. */
const SWEEP_MIN = 4096;
/** Automatic sweeps keep entries this long past their token's expiry (so get says null, not EXPIRED). */
const SWEEP_GRACE_MS = 60 * 60 * 1000;

/**
 * An in-process {@link RevocationStore}: two Maps. Right for a single process (tests,
 * a single server); with several processes use a shared one (see the README's Redis
 * sketch).
 *
 * Bounded: a denylist entry lives until its token expires (`cleanupExpired` drops it;
 * and once the denylist has grown past 4096 entries and doubled since the last sweep, a
 * write also drops entries whose token expired more than an hour ago), and a user entry
 * lives until its `keepUntil`. It holds no timers.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #tokens = new Map<string, number>();
  readonly #users = new Map<string, UserEntry>();
  #sweepAt = SWEEP_MIN;

  /** Denylisted token ids currently held. */
  get size(): number {
    return this.#tokens.size;
  }

  /** Users with a "revoked before" time currently held. */
  get userCount(): number {
    return this.#users.size;
  }

  async revokeToken(jti: string, expiresAt: number, now: number): Promise<void> {
    this.revokeTokenSync(jti, expiresAt, now);
  }

  /** @internal the synchronous form used by JwtSessionStore. */
  revokeTokenSync(jti: string, expiresAt: number, now: number): void {
    const previous = this.#tokens.get(jti);
    if (previous === undefined || previous < expiresAt) this.#tokens.set(jti, expiresAt);
    if (this.#tokens.size >= this.#sweepAt) {
      for (const [id, until] of this.#tokens) if (until + SWEEP_GRACE_MS <= now) this.#tokens.delete(id);
      this.#sweepAt = Math.max(SWEEP_MIN, this.#tokens.size * 2);
    }
  }

  async revokeUser(tenantId: string, userId: string, revokedAt: number, keepUntil: number | undefined): Promise<void> {
    this.revokeUserSync(tenantId, userId, revokedAt, keepUntil);
  }

  /** @internal */
  revokeUserSync(tenantId: string, userId: string, revokedAt: number, keepUntil: number | undefined): void {
    const key = userKey(tenantId, userId);
    const until = keepUntil ?? Number.POSITIVE_INFINITY;
    const entry = this.#users.get(key);
    if (entry === undefined) this.#users.set(key, { revokedAt, keepUntil: until });
    else {
      entry.revokedAt = Math.max(entry.revokedAt, revokedAt);
      entry.keepUntil = Math.max(entry.keepUntil, until);
    }
  }

  async isRevoked(token: RevocationCheck, now: number): Promise<boolean> {
    return this.isRevokedSync(token, now);
  }

  /** @internal */
  isRevokedSync(token: RevocationCheck, _now: number): boolean {
    if (this.#tokens.has(token.jti)) return true;
    if (this.#users.size === 0) return false;
    const entry = this.#users.get(userKey(token.tenantId, token.userId));
    return entry !== undefined && token.signedAt <= entry.revokedAt;
  }

  async cleanupExpired(now: number): Promise<number> {
    return this.cleanupExpiredSync(now);
  }

  /** @internal */
  cleanupExpiredSync(now: number): number {
    let removed = 0;
    for (const [id, until] of this.#tokens) {
      if (until <= now) {
        this.#tokens.delete(id);
        removed++;
      }
    }
    for (const [key, entry] of this.#users) if (entry.keepUntil <= now) this.#users.delete(key);
    return removed;
  }
}

// Length-prefixed, so no two (tenant, user) pairs share a key whatever characters they hold.
function userKey(tenantId: string, userId: string): string {
  return `${tenantId.length}:${tenantId}${userId}`;
}

/**
 * @internal The store's calls to its RevocationStore: a {@link MemoryRevocationStore}
 * synchronously, any other within `operationTimeoutMs`, whatever it throws (synchronously
 * too) or rejects with, or a count that is not one, `STORAGE` with the cause.
 */
export class RevocationCalls {
  readonly #store: RevocationStore;
  /** Set when the store is a MemoryRevocationStore: no promise, no deadline. */
  readonly #memory: MemoryRevocationStore | undefined;
  /** Bounds every call to a store other than MemoryRevocationStore (one unref'd timer for all of them). */
  readonly #deadlines: OperationDeadlines;

  constructor(store: RevocationStore, operationTimeoutMs: number) {
    this.#store = store;
    this.#memory = store instanceof MemoryRevocationStore ? store : undefined;
    this.#deadlines = new OperationDeadlines(operationTimeoutMs, STORE);
  }

  /** Stops the deadline timer (the RevocationStore itself belongs to the caller). */
  close(): void {
    this.#deadlines.stop();
  }

  async isRevoked(check: RevocationCheck, now: number): Promise<boolean> {
    const memory = this.#memory;
    if (memory !== undefined) return memory.isRevokedSync(check, now);
    return Boolean(await this.#call('get', () => this.#store.isRevoked(check, now)));
  }

  async revokeToken(jti: string, expiresAt: number, now: number): Promise<void> {
    const memory = this.#memory;
    if (memory !== undefined) memory.revokeTokenSync(jti, expiresAt, now);
    else await this.#call('delete', () => this.#store.revokeToken(jti, expiresAt, now));
  }

  async revokeUser(tenantId: string, userId: string, revokedAt: number, keepUntil: number | undefined): Promise<void> {
    const memory = this.#memory;
    if (memory !== undefined) memory.revokeUserSync(tenantId, userId, revokedAt, keepUntil);
    else await this.#call('deleteByUser', () => this.#store.revokeUser(tenantId, userId, revokedAt, keepUntil));
  }

  async cleanupExpired(now: number): Promise<number> {
    const memory = this.#memory;
    if (memory !== undefined) return memory.cleanupExpiredSync(now);
    const removed = await this.#call('cleanupExpired', () => this.#store.cleanupExpired(now));
    if (typeof removed !== 'number' || !Number.isInteger(removed) || removed < 0) {
      throw storageError(
        STORE,
        'cleanupExpired',
        `revocations.cleanupExpired resolved ${String(removed)}, not a count`,
        new TypeError('bad count'),
      );
    }
    return removed;
  }

  /** One call to the caller's RevocationStore, within operationTimeoutMs. */
  #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return guard(STORE, operation, () => this.#deadlines.wrap(operation, Promise.resolve(call())));
  }
}
