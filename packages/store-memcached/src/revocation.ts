// The per-(tenant, user) "revoked before" marker deleteByUser writes, so that sessions
// the user index no longer reaches (it was evicted, or its server restarted) read as
// gone too. A session item's flags hold the second it was created in (store clock); a
// marker holds the time of the user's last deleteByUser (ms, store clock). Every read of
// a session checks its owner's marker; OwnerHints lets it read both at once.
import { corrupt, decodeRecord, readClock, type SessionRecord } from '@sessionkit/core';
import { backoff, type Context, itemExpiration, type Owner, STORE } from './context.js';
import type { Item } from './framing.js';
import { revokedKey } from './keys.js';
import type { Op } from './server-socket.js';

/**
 * Without maxLifetimeMs, how long a "revoked before" marker outlives its deleteByUser
 * (sessions created earlier and expiring later than that are no longer covered).
 */
export const DEFAULT_REVOCATION_MS = 400 * 24 * 3600_000;
/** How many session ids' owners a store remembers (about 200 bytes each). */
export const MAX_OWNER_HINTS = 10_000;

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
  if (!Number.isSafeInteger(at)) throw corrupt(STORE, 'decode', 'revocation marker is not a time in ms');
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

/**
 * The owner each recently read session id had (at most MAX_OWNER_HINTS, the oldest
 * forgotten first). Only a guess of which marker to read alongside the record: a read
 * always checks the marker of the owner the record names (see readSession).
 */
export class OwnerHints {
  readonly #owners = new Map<string, Owner>();

  get(id: string): Owner | undefined {
    return this.#owners.get(id);
  }

  /** Remembers the owner of `record` (its id's owner for the next read). */
  note(record: SessionRecord): void {
    const known = this.#owners.get(record.id);
    if (known !== undefined && known.userId === record.userId && known.tenantId === record.tenantId) return;
    if (known === undefined && this.#owners.size >= MAX_OWNER_HINTS) {
      this.#owners.delete(this.#owners.keys().next().value as string);
    }
    this.#owners.set(record.id, { userId: record.userId, tenantId: record.tenantId });
  }
}

/** A session read by get, touch, extend or update: its item, record and the time it was judged at. */
export interface SessionRead {
  item: Item;
  record: SessionRecord;
  now: number;
}

/**
 * Reads session `id` (item `key`): null when there is none, it is past its retention
 * (store clock), or a deleteByUser of its owner revoked it; else its item and record,
 * expired or not. When `hints` knows the id's owner, that owner's marker is read at the
 * same time as the record (one round trip instead of two) and used only if the record
 * names that owner; otherwise the record's owner's marker is read after it. Either way
 * the marker is read after this read began, so a deleteByUser that resolved before it
 * is seen.
 */
export async function readSession(
  ctx: Context,
  hints: OwnerHints,
  key: string,
  id: string,
  op: Op,
): Promise<SessionRead | null> {
  const hint = hints.get(id);
  const reading = ctx.conn.get(key, op);
  const guessed = hint === undefined ? undefined : revokedAt(ctx, hint, op);
  guessed?.catch(() => {}); // not needed after all when the record is gone or someone else's
  const item = await reading;
  if (item === null) return null;
  const record = decodeRecord(item.value.toString('utf8'), STORE);
  if (record.id !== id) return null;
  const now = readClock(ctx.rules);
  if (record.expiresAt.getTime() + ctx.retentionMs <= now) return null;
  const sameOwner = hint !== undefined && hint.userId === record.userId && hint.tenantId === record.tenantId;
  const at = guessed !== undefined && sameOwner ? await guessed : await revokedAt(ctx, record, op);
  if (revoked(item.flags, at)) return null;
  hints.note(record);
  return { item, record, now };
}
