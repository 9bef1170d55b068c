import type { JsonValue, SessionRecord, TenantId } from '@sessionkit/core';

/**
 * How the manager keeps its own state in a store record. The record's `metadata` is
 * `{ sessionkit: ManagerState, data: <the app's metadata> }`; the app sees only `data`.
 * Records of any other shape are not the manager's and never validate.
 */
export interface ManagerState {
  /** Layout version. */
  v: 1;
  /** Set on a session that stepUp replaced: the handle of its successor. */
  rotatedTo?: string;
  /** With rotatedTo: the old token validates only while `now < graceUntil` (ms since the epoch). */
  graceUntil?: number;
  /** Set on a session made by stepUp: the handle it replaced (revoked together with it). */
  rotatedFrom?: string;
}

export const STATE_KEY = 'sessionkit';

export function wrapMetadata(state: ManagerState, data: JsonValue): JsonValue {
  return { [STATE_KEY]: state as unknown as JsonValue, data };
}

/** The manager's state and the app's metadata of a record, or undefined when it is not the manager's. */
export function readState(record: SessionRecord): { state: ManagerState; data: JsonValue } | undefined {
  const metadata = record.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
  const state = (metadata as Record<string, JsonValue>)[STATE_KEY];
  if (typeof state !== 'object' || state === null || Array.isArray(state) || state.v !== 1) return undefined;
  const s = state as Record<string, JsonValue>;
  if (s.rotatedTo !== undefined && (typeof s.rotatedTo !== 'string' || typeof s.graceUntil !== 'number'))
    return undefined;
  return { state: s as unknown as ManagerState, data: (metadata as Record<string, JsonValue>).data ?? null };
}

/** A validated session, as `validate` and `stepUp` return it. */
export interface Session {
  /** The public handle: SHA-256 of the token, base64url. Safe to show and log; `revoke` takes it. */
  handle: string;
  userId: string;
  tenantId: TenantId;
  factorsUsed: string[];
  assuranceLevel: number;
  /** The app's metadata given to issue (or stepUp). */
  metadata: JsonValue;
  /** Sign-in time; stepUp keeps it, so the absolute timeout counts from the first sign-in. */
  createdAt: Date;
  lastActivityAt: Date;
  /** When the session times out if nothing slides it: the sooner of the idle and absolute deadlines (or the grace end). */
  expiresAt: Date;
  /** True when the token was rotated out by stepUp and is inside its grace window. */
  rotated: boolean;
}

/** One entry of `list`: a device (browser) the user is signed in on. */
export interface Device {
  handle: string;
  createdAt: Date;
  lastActivityAt: Date;
  expiresAt: Date;
  assuranceLevel: number;
  factorsUsed: string[];
  metadata: JsonValue;
  /** True for the session of the token given to list. */
  current: boolean;
}
