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

/** Whether a session of `bytes` would take the store over maxSessions or maxBytes. */
function full(table: SessionTable, bounds: StoreBounds, bytes: number): boolean {
  return table.sessions.size >= bounds.maxSessions || table.bytes() + bytes > bounds.maxBytes;
}

/**
 * Before a create (or a growing update) of `bytes` for the (tenant, user) whose index is
 * `owner` (undefined when they hold nothing): when the store would go over maxSessions or
 * maxBytes, drops every expired session, then evicts until there is room; returns how
 * many it evicted (expired sessions dropped not counted). Each eviction takes the creating
 * user's own soonest-expiring session while that user holds at least the average bytes
 * per user (so one user filling the store evicts itself, not everyone else), else the
 * store's soonest-expiring session.
 */
export function makeRoom(
  table: SessionTable,
  bounds: StoreBounds,
  now: number,
  bytes: number,
  owner: UserIndex | undefined,
): number {
  if (!full(table, bounds, bytes)) return 0;
  table.sweep(now, Number.POSITIVE_INFINITY);
  let evicted = 0;
  while (full(table, bounds, bytes) && table.sessions.size > 0) {
    // An index emptied by the removals is closed: the user holds nothing any more.
    const own = owner !== undefined && owner.size > 0 ? owner : undefined;
    const victim =
      own !== undefined && own.bytes * table.users.count >= table.entryBytes ? own.first() : table.expiry.soonest();
    if (victim === undefined) break;
    table.remove(victim);
    evicted++;
  }
  return evicted;
}
