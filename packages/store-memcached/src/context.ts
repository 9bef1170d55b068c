// What every part of the store shares: its name, its resolved settings with the
// connection, and the rules every module applies to session items alike (an item's
// expiration field, a record read back as one owner's, the CAS retry pause, deleting an
// owner's session by CAS).
import { decodeRecord, type RecordRules, type SessionRecord } from '@sessionkit/core';
import type { Connection } from './connection.js';
import type { Item } from './framing.js';
import { expirationField } from './keys.js';
import { AbortedError, type Op } from './server-socket.js';

export const STORE = 'memcached';

/** CAS retries before an operation gives up with STORAGE (it is also bounded by operationTimeoutMs). */
export const MAX_ATTEMPTS = 200;

/** One store's settings and connection, as its modules read them. */
export interface Context {
  readonly conn: Connection;
  /** Every key starts with it. */
  readonly prefix: string;
  readonly rules: RecordRules;
  /** expiredRetentionMs: items outlive their session's expiresAt by this much. */
  readonly retentionMs: number;
  readonly maxSessionsPerUser: number;
}

/** The (tenant, user) a session or an index belongs to. */
export interface Owner {
  userId: string;
  tenantId: string;
}

/** The expiration field of an item of a session expiring at `expiresAtMs` (it outlives it by the retention). */
export function itemExpiration(ctx: Context, expiresAtMs: number, nowMs: number): number {
  return expirationField(expiresAtMs + ctx.retentionMs, nowMs);
}

/** The record in `item` when it is session `id` of `owner`, else null (corrupt data included). */
export function ownedRecord(item: Item, id: string, owner: Owner): SessionRecord | null {
  let record: SessionRecord;
  try {
    record = decodeRecord(item.value.toString('utf8'), STORE);
  } catch {
    return null;
  }
  if (record.id !== id || record.userId !== owner.userId || record.tenantId !== owner.tenantId) return null;
  return record;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The pause before CAS retry number `attempt` (none before the first): a random wait
 * of up to min(20, 2^attempt) ms. Stops an aborted operation, and gives up (STORAGE)
 * after MAX_ATTEMPTS conflicts in a row.
 */
export async function backoff(attempt: number, op: Op): Promise<void> {
  if (op.aborted) throw new AbortedError();
  // the operation's runner turns it into STORAGE naming the operation
  if (attempt >= MAX_ATTEMPTS) throw new Error(`gave up after ${MAX_ATTEMPTS} conflicting concurrent writes (CAS)`);
  if (attempt > 0) await sleep(Math.random() * Math.min(20, 2 ** attempt));
}

/**
 * Deletes session `id` of `owner` (item `key`, last read as `item`) by CAS, re-reading it
 * on a conflict, and only while it is still that owner's. Returns the record deleted
 * with its item, or null when it deleted nothing (missing, someone else's, corrupt).
 */
export async function deleteOwned(
  ctx: Context,
  key: string,
  id: string,
  owner: Owner,
  item: Item | null,
  op: Op,
): Promise<{ record: SessionRecord; item: Item } | null> {
  for (let attempt = 0; item !== null; attempt++) {
    const record = ownedRecord(item, id, owner);
    if (record === null) return null;
    const outcome = await ctx.conn.delete(key, item.cas, op);
    if (outcome === 'ok') return { record, item };
    if (outcome === 'missing') return null;
    await backoff(attempt, op);
    item = await ctx.conn.get(key, op);
  }
  return null;
}
