// How the manager keeps its own state in a store record and reads it back, and the
// shapes the app gives and gets (IssueInput, StepUpInput, Issued, Owner, Session, Device).
import { type JsonValue, SessionError, type SessionRecord, type SessionStore, type TenantId } from '@sessionkit/core';

/**
 * The manager's own state in a store record. The record's `metadata` is
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

/** A live, manager-made session read from the store: the record, its state and the app's data. */
export interface Found {
  record: SessionRecord;
  state: ManagerState;
  data: JsonValue;
  /** The store id: the token's handle (the token itself on a stateless store). */
  id: string;
}

/** The store's `get`, with EXPIRED read as "no session". */
export async function getOrNull(store: SessionStore, id: string): Promise<SessionRecord | null> {
  try {
    return await store.get(id);
  } catch (error) {
    if (SessionError.hasCode(error, 'EXPIRED')) return null;
    throw error;
  }
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

/** The `list` entry of a live record (`data`: the app's metadata; `current`: the caller's own handle). */
export function toDevice(record: SessionRecord, data: JsonValue, current: string | undefined): Device {
  return {
    handle: record.id,
    createdAt: record.createdAt,
    lastActivityAt: record.lastActivityAt,
    expiresAt: record.expiresAt,
    assuranceLevel: record.assuranceLevel,
    factorsUsed: record.factorsUsed,
    metadata: data,
    current: record.id === current,
  };
}
