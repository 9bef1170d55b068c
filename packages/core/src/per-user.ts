import type { SessionRecord } from './record.js';
import { durationOption } from './validate.js';

/** Default for `maxSessionsPerUser` (server-side stores): 1000. */
export const DEFAULT_MAX_SESSIONS_PER_USER = 1000;
/** The largest `maxSessionsPerUser` a store accepts: 1,000,000. */
export const MAX_SESSIONS_PER_USER_LIMIT = 1_000_000;

/**
 * Reads the `maxSessionsPerUser` option of a server-side store: `undefined` gives
 * {@link DEFAULT_MAX_SESSIONS_PER_USER}; anything else must be an integer from 1 to
 * {@link MAX_SESSIONS_PER_USER_LIMIT} (throws `INVALID` naming `maxSessionsPerUser`).
 */
export function maxSessionsPerUserOption(store: string, value: unknown): number {
  return durationOption(store, 'maxSessionsPerUser', value, DEFAULT_MAX_SESSIONS_PER_USER, {
    min: 1,
    max: MAX_SESSIONS_PER_USER_LIMIT,
  });
}

/**
 * The order in which a create past `maxSessionsPerUser` removes a user's existing
 * sessions: soonest `expiresAt` first (expired ones that are still recorded go first),
 * then earliest `createdAt`, then smallest id (JavaScript string order).
 */
export function compareForEviction(
  a: Pick<SessionRecord, 'id' | 'createdAt' | 'expiresAt'>,
  b: Pick<SessionRecord, 'id' | 'createdAt' | 'expiresAt'>,
): number {
  const e = a.expiresAt.getTime() - b.expiresAt.getTime();
  if (e !== 0) return e;
  const c = a.createdAt.getTime() - b.createdAt.getTime();
  if (c !== 0) return c;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
