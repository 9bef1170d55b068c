// The per-(tenant, user) "revoked before" marker deleteByUser writes, so that sessions
// the user index no longer reaches (it was evicted, or its server restarted) read as
// gone too. A session item's flags hold the second it was created in (store clock); a
// marker holds the time of the user's last deleteByUser (ms, store clock).
import { readClock, SessionError } from '@sessionkit/core';
import { backoff, type Context, itemExpiration, type Owner, STORE } from './context.js';
import { revokedKey } from './keys.js';
import type { Op } from './server-socket.js';

/**
 * Without maxLifetimeMs, how long a "revoked before" marker outlives its deleteByUser
 * (sessions created earlier and expiring later than that are no longer covered).
 */
export const DEFAULT_REVOCATION_MS = 400 * 24 * 3600_000;

/** The item flags of a record created at `nowMs` (store clock): its second, as an unsigned 32-bit number. */
export function stampOf(nowMs: number): number {
  return Math.min(Math.max(0, Math.floor(nowMs / 1000)), 0xffffffff);
}

/**
 * Whether a record created in second `stamp` (its item flags) was revoked by a
 * deleteByUser at `revokedAt` (ms): created in an earlier second.
 */
export function revoked(stamp: number, revokedAt: number): boolean {
  return stamp < Math.floor(revokedAt / 1000);
}

/** When `owner` was last revoked by deleteByUser (ms, store clock), or -Infinity. */
export async function revokedAt(ctx: Context, owner: Owner, op: Op): Promise<number> {
  const item = await ctx.conn.get(revokedKey(ctx.prefix, owner.tenantId, owner.userId), op);
  if (item === null) return Number.NEGATIVE_INFINITY;
  const at = Number(item.value.toString('latin1'));
  if (!Number.isSafeInteger(at)) {
    throw new SessionError('STORAGE', 'stored revocation marker cannot be decoded', {
      store: STORE,
      operation: 'decode',
    });
  }
  return at;
}

/**
 * Sets `owner`'s "revoked before" marker to now (never lowers it; CAS). It lives until
 * every session created before now has expired: `maxLifetimeMs` after now (400 days
 * without it), plus the retention. Returns the previous value (-Infinity when none).
 */
export async function markRevoked(ctx: Context, owner: Owner, op: Op): Promise<number> {
  const key = revokedKey(ctx.prefix, owner.tenantId, owner.userId);
  for (let attempt = 0; ; attempt++) {
    const item = await ctx.conn.get(key, op);
    const now = readClock(ctx.rules);
    const previous = item === null ? Number.NEGATIVE_INFINITY : Number(item.value.toString('latin1'));
    if (previous >= now) return previous;
    const until = now + (ctx.rules.maxLifetimeMs ?? DEFAULT_REVOCATION_MS);
    const expiration = itemExpiration(ctx, until, now);
    const value = String(now);
    const stored =
      item === null
        ? (await ctx.conn.add(key, value, expiration, op)) !== null
        : (await ctx.conn.casSet(key, value, expiration, item.cas, op)) === 'ok';
    if (stored) return Number.isSafeInteger(previous) ? previous : Number.NEGATIVE_INFINITY;
    await backoff(attempt, op);
  }
}
