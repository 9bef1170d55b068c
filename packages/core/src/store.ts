import type { StoreCapabilities } from './capabilities.js';
import type { SessionRecord } from './record.js';
import type { StoreTelemetryOption } from './telemetry-types.js';
import type { TenantId } from './tenant.js';

/**
 * Options every store takes besides its backend-specific ones.
 */
export interface BaseStoreOptions {
  /**
   * Milliseconds since the epoch, used for every expiry decision the store makes in the
   * application (is it expired, what `extend` and `touch` write).
   * @default Date.now
   */
  clock?: () => number;
  /**
   * Caps every session's `expiresAt` at `createdAt + maxLifetimeMs` in create, update and
   * extend (capped, not rejected; create rejects INVALID when the cap is already past).
   * @default undefined (no cap)
   */
  maxLifetimeMs?: number;
  /**
   * The largest record accepted, in UTF-8 bytes of core's JSON encoding of the record.
   * @default 65536
   */
  maxRecordBytes?: number;
  /**
   * OpenTelemetry instrumentation: a span and counters per operation (see core's README,
   * "Observability"). Unset: the global providers of `@opentelemetry/api` when that
   * optional peer is installed, nothing at all when it is not. An object
   * `{ tracerProvider?, meterProvider? }` uses those providers; `false` turns it off.
   * @default undefined (the global providers, if `@opentelemetry/api` is installed)
   */
  telemetry?: StoreTelemetryOption;
}

/**
 * Session storage. Every method rejects only with a `SessionError`; a `STORAGE` error
 * carries the backend's error as `cause`. All times come from the store's `clock`.
 *
 * Ids: every method that takes an id rejects `INVALID` for a non-string id; a string
 * that names no session (however malformed) is simply "missing".
 */
export interface SessionStore {
  /** What this store can do; methods outside it reject `UNSUPPORTED`. */
  readonly capabilities: StoreCapabilities;

  /**
   * Stores a new session and returns its id.
   *
   * The whole record is validated first (`INVALID`, naming the field): userId and
   * tenantId non-empty identifiers, transactionId and factorsUsed identifiers (empty
   * allowed), assuranceLevel an int32, metadata JSON, valid Dates with `createdAt` not
   * later than now (a session cannot start in the future: `INVALID` naming
   * `record.createdAt`) and `expiresAt` later than both `createdAt` and now, and the
   * encoded record within `maxRecordBytes`. With `maxLifetimeMs`, `expiresAt` is capped
   * at `createdAt + maxLifetimeMs`.
   *
   * Server-side stores bound each user (`maxSessionsPerUser`, default 1000): a create for
   * a (tenantId, userId) that already holds that many sessions (expired ones still
   * recorded count) removes, in the same atomic step, that user's sessions with the
   * soonest `expiresAt` (ties: earliest `createdAt`, then smallest id) until the user
   * holds exactly `maxSessionsPerUser` including the new one, which is never removed.
   *
   * `record.id === ''` makes the store generate an id (256 bits from a CSPRNG,
   * base64url). A caller-chosen id needs the `customIds` capability and rejects
   * `CONFLICT` when a session with that id exists: nothing is ever overwritten. The
   * record and its per-user index entry are written atomically.
   */
  create(record: SessionRecord): Promise<string>;

  /**
   * The session with this id, deep-equal to what was stored; `null` when there is none.
   * Rejects `EXPIRED` when it exists and `expiresAt <= now` (stores whose backend drops
   * data by itself keep expired sessions recognisable for `expiredRetentionMs`).
   */
  get(id: string): Promise<SessionRecord | null>;

  /**
   * Replaces transactionId, factorsUsed, assuranceLevel, metadata, expiresAt and
   * lastActivityAt of session `record.id`, validated as in create. Checks, in order: the
   * record's shape (`INVALID`), existence (`NOT_FOUND`), expiry (`EXPIRED`), then that
   * userId, tenantId and createdAt are unchanged (`INVALID`).
   */
  update(record: SessionRecord): Promise<void>;

  /** Removes the session and its index entries. Resolves when the id is missing too. */
  delete(id: string): Promise<void>;

  /**
   * Removes every session of `userId` in `tenantId` (and none of any other tenant) and
   * resolves with how many unexpired sessions it removed. A stateless token store
   * (store-jwt), which keeps no records, cannot count and resolves 0. Acts on an index
   * entry only while the record it names still belongs to that (tenantId, userId), and
   * pages through a large user (no single backend call over an unbounded number).
   */
  deleteByUser(userId: string, tenantId: TenantId): Promise<number>;

  /**
   * Sliding expiry: sets `expiresAt = now + durationMs` (capped by `maxLifetimeMs`) and
   * `lastActivityAt = now`. `durationMs` must be a positive integer (`INVALID`).
   * Rejects `NOT_FOUND` when missing and `EXPIRED` when expired: never revives a session.
   */
  extend(id: string, durationMs: number): Promise<void>;

  /** Sets `lastActivityAt = now`, leaving `expiresAt` alone. `NOT_FOUND` / `EXPIRED` as extend. */
  touch(id: string): Promise<void>;

  /**
   * Removes every session with `expiresAt <= now` and every index entry left pointing at
   * nothing; resolves with the number of session records removed. Works in bounded
   * batches and is safe to run from many processes at once. Resolves `0` on a store
   * without the `cleanup` capability.
   */
  cleanupExpired(): Promise<number>;

  /**
   * Every unexpired session of `userId` in `tenantId`, ordered by createdAt then id;
   * `[]` when none. Costs what that user has, not what the store holds, in pages of a
   * bounded size. Never includes a session whose record belongs to another user or
   * tenant (a caller-chosen id that expired and was reused).
   */
  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]>;

  /**
   * Stops the store's own timers. Never closes a client or pool the caller passed in.
   * Idempotent.
   */
  close(): Promise<void>;
}
