// create's record write and its undo: the `add` that claims the id (replacing, by CAS,
// an item that is gone on the store's clock), and the background undo of a create that
// failed after its record was written, or finished after it was rejected.
import { decodeRecord, SessionError, type SessionRecord } from '@sessionkit/core';
import { backoff, type Context, itemExpiration, STORE } from './context.js';
import { MemcachedStatusError } from './framing.js';
import type { IndexSync } from './index-sync.js';
import { indexKey } from './keys.js';
import { revoked, revokedAt, stampOf } from './revocation.js';
import { AbortedError, type Op } from './server-socket.js';

/** Tries of one undo, a second apart (each bounded by operationTimeoutMs). */
const UNDO_TRIES = 5;
const UNDO_INTERVAL_MS = 1000;

/**
 * Adds the record of a create at `nowMs`; returns its CAS, or null when a session with
 * that id exists. An item that outlived its retention on the store's clock (memcached
 * runs on real time), or that a deleteByUser revoked without reaching it, does not count
 * as existing and is replaced, with CAS. The item's flags hold its creation second.
 */
export async function addRecord(
  ctx: Context,
  key: string,
  text: string,
  record: SessionRecord,
  nowMs: number,
  op: Op,
): Promise<Buffer | null> {
  const { conn } = ctx;
  const expiration = itemExpiration(ctx, record.expiresAt.getTime(), nowMs);
  const stamp = stampOf(nowMs);
  for (let attempt = 0; ; attempt++) {
    const cas = await conn.add(key, text, expiration, op, stamp);
    if (cas !== null) return cas;
    const existing = await conn.get(key, op);
    if (existing !== null) {
      let old: SessionRecord | null = null;
      try {
        old = decodeRecord(existing.value.toString('utf8'), STORE);
      } catch {
        old = null;
      }
      // Gone: past its retention, or revoked by a deleteByUser that did not reach it.
      const gone =
        old !== null &&
        (old.expiresAt.getTime() + ctx.retentionMs <= nowMs || revoked(existing.flags, await revokedAt(ctx, old, op)));
      if (!gone) return null;
      const outcome = await conn.casSetWithCas(key, text, expiration, existing.cas, op, stamp);
      if (outcome !== null) return outcome;
    }
    await backoff(attempt, op);
  }
}

/**
 * Whether a failed add got no answer (so it may still land later, on a hung server):
 * anything but the server's refusal, an unsent request or a SessionError.
 */
export function unanswered(reason: unknown): boolean {
  return !(reason instanceof MemcachedStatusError || reason instanceof AbortedError || SessionError.isInstance(reason));
}

/** Runs one operation of the store under its deadline (the store's own runner). */
export type Runner = <T>(operation: string, body: (op: Op) => Promise<T>) => Promise<T>;

/** The undos of one store's creates, with the timers of their retries. */
export class CreateUndo {
  readonly #ctx: Context;
  readonly #index: IndexSync;
  readonly #run: Runner;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(ctx: Context, index: IndexSync, run: Runner) {
    this.#ctx = ctx;
    this.#index = index;
    this.#run = run;
  }

  /**
   * Undoes a create: deletes exactly the record it wrote and its index entry. With the
   * CAS of the add it deletes by CAS at once. Without it (the add got no answer, so it
   * may still land), it looks a few times, a second apart, for an item holding exactly
   * this record's `text` and deletes that by CAS, so a concurrent create of the same id
   * by someone else is never touched. Best effort, in the background, each try bounded
   * by operationTimeoutMs; close() stops the tries.
   */
  undo(key: string, cas: Buffer | null, record: SessionRecord, text?: string): void {
    const { conn, prefix } = this.#ctx;
    const ikey = indexKey(prefix, record.tenantId, record.userId);
    const attempt = (tries: number, clean: number): void => {
      this.#run('create (undo)', async (op) => {
        let target = cas;
        if (target === null) {
          const item = await conn.get(key, op);
          if (item === null || item.value.toString('utf8') !== text) return false;
          target = item.cas;
        }
        const outcome = await conn.delete(key, target, op);
        if (outcome === 'ok') await this.#index.sync(ikey, record, [record.id], op);
        return outcome === 'ok';
      }).then(
        (deleted) => {
          if (cas === null && !deleted && clean + 1 < 2 && tries + 1 < UNDO_TRIES)
            this.#later(() => attempt(tries + 1, clean + 1));
        },
        () => {
          if (tries + 1 < UNDO_TRIES) this.#later(() => attempt(tries + 1, clean));
        },
      );
    };
    attempt(0, 0);
  }

  /** Stops the retries (an undo running now still finishes its try). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #later(fn: () => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, UNDO_INTERVAL_MS);
    timer.unref();
    this.#timers.add(timer);
  }
}
