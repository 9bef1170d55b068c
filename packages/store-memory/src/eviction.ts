// Eviction: who makes way when a create (or a growing update) reaches a bound, maxBytes
// and maxSessions for the store, maxSessionsPerUser for one (tenant, user).
import type { Entry } from './stored.js';
import type { SessionTable } from './table.js';
import type { UserIndex } from './user-index.js';

/** The store-wide bounds. */
export interface StoreBounds {
  maxSessions: number;
  maxBytes: number;
}

/**
 * Before a create for `owner`, who already holds `max` or more sessions: removes their
 * soonest-expiring sessions until they hold `max - 1`; returns how many it removed.
 */
export function makeRoomForUser(table: SessionTable, owner: UserIndex, max: number): number {
  let removed = 0;
  while (owner.size >= max) {
    table.remove(owner.first() as Entry);
    removed++;
  }
  return removed;
}

/**
 * Before a create (or a growing update) of `bytes` for (tenant, user): when the store
 * would go over maxSessions or maxBytes, drops every expired session, then evicts until
 * there is room; returns how many it evicted (expired sessions dropped not counted). Each
 * eviction takes the creating user's own soonest-expiring session while that user holds
 * at least the average bytes per user (so one user filling the store evicts itself, not
 * everyone else), else the store's soonest-expiring session.
 */
export function makeRoom(
  table: SessionTable,
  bounds: StoreBounds,
  now: number,
  bytes: number,
  tenantId: string,
  userId: string,
): number {
  const full = () => table.sessions.size >= bounds.maxSessions || table.bytes() + bytes > bounds.maxBytes;
  if (!full()) return 0;
  table.sweep(now, Number.POSITIVE_INFINITY);
  let evicted = 0;
  while (full() && table.sessions.size > 0) {
    const owner = table.users.get(tenantId, userId);
    const victim =
      owner !== undefined && owner.bytes * table.users.count >= table.entryBytes
        ? owner.first()
        : table.expiry.soonest();
    if (victim === undefined) break;
    table.remove(victim);
    evicted++;
  }
  return evicted;
}
