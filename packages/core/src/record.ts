import type { TenantId } from './tenant.js';

/** Any value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * One session, as every store reads and writes it.
 *
 * Strings (`id`, `userId`, `tenantId`, `transactionId` and each of `factorsUsed`) hold at
 * most 256 UTF-16 units and no control characters (Unicode Cc). Dates round-trip to the
 * millisecond; `metadata` round-trips as JSON.
 */
export interface SessionRecord {
  /** The session id. Pass `''` to {@link SessionStore.create} to have the store generate one. */
  id: string;
  /** Who the session belongs to: non-empty. Immutable after create. */
  userId: string;
  /** The tenant the user belongs to, made by `tenantId()`. Immutable after create. */
  tenantId: TenantId;
  /** The caller's correlation id for the login that created the session (may be empty). */
  transactionId: string;
  /** The authentication factors used, for example `['password', 'totp']` (may be empty). */
  factorsUsed: string[];
  /** How strongly the user was authenticated: an integer in the int32 range. */
  assuranceLevel: number;
  /** Free-form JSON the application keeps with the session. */
  metadata: JsonValue;
  /** When the session was created. Immutable after create. */
  createdAt: Date;
  /** When the session stops being valid: `get` reports `EXPIRED` once `expiresAt <= now`. */
  expiresAt: Date;
  /** When the session was last used; `touch` and `extend` set it to now. */
  lastActivityAt: Date;
}
