// Step-up: rotating a session to a new token at a higher level, one winner per step-up
// (in process: one at a time per old session; across processes: mark, read back, create,
// read back), the undo when a write fails, and revoking a whole step-up chain.
import { invalidInput, SessionError, type SessionRecord, type SessionStore } from '@sessionkit/core';
import { type Found, getOrNull, readState, type StepUpInput, wrapMetadata } from './layout.js';
import { STORE } from './options.js';
import type { Timeouts } from './timeouts.js';
import { handleOf, newToken } from './token.js';

/**
 * How long (at least) the store keeps a record stepUp rotated out, whatever the grace, so
 * stepUp can read its mark back (the manager refuses the old token from graceUntil on).
 * Equal to the default grace: with the default, the record expires at graceUntil.
 */
const MARK_KEEP_MS = 5_000;
/** Longest step-up chain revoke follows in each direction. */
const MAX_CHAIN = 100;

/** stepUp's argument checks: an object, an int32 level, an array of string factors (INVALID naming the field). */
export function checkStepUpInput(input: unknown): asserts input is StepUpInput {
  if (typeof input !== 'object' || input === null) throw invalidInput(STORE, 'stepUp', 'input', 'must be an object');
  const { assuranceLevel, factorsUsed } = input as Partial<StepUpInput>;
  if (
    typeof assuranceLevel !== 'number' ||
    !Number.isInteger(assuranceLevel) ||
    assuranceLevel !== (assuranceLevel | 0)
  ) {
    throw invalidInput(STORE, 'stepUp', 'assuranceLevel', 'must be an int32');
  }
  if (!Array.isArray(factorsUsed) || factorsUsed.some((f) => typeof f !== 'string')) {
    throw invalidInput(STORE, 'stepUp', 'factorsUsed', 'must be an array of strings');
  }
}

/** The step-ups of one manager: the rotation writes, the in-process lock, the chain. */
export class StepUps {
  readonly #store: SessionStore;
  readonly #timeouts: Timeouts;
  readonly #rotationGraceMs: number;
  /** The manager's checked clock. */
  readonly #now: () => number;
  /** old handle -> the stepUp running on it in this process (one at a time). */
  readonly #locks = new Map<string, Promise<void>>();

  constructor(store: SessionStore, timeouts: Timeouts, rotationGraceMs: number, now: () => number) {
    this.#store = store;
    this.#timeouts = timeouts;
    this.#rotationGraceMs = rotationGraceMs;
    this.#now = now;
  }

  /** Runs `body` once no other call holding `key` runs in this process. */
  async exclusive<T>(key: string, body: () => Promise<T>): Promise<T> {
    for (let busy = this.#locks.get(key); busy !== undefined; busy = this.#locks.get(key)) await busy;
    let release = (): void => {};
    this.#locks.set(
      key,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      return await body();
    } finally {
      this.#locks.delete(key);
      release();
    }
  }

  /**
   * Rotates the live session `found` (not rotated out) to a new token, in an order that
   * lets only one of several concurrent stepUps win:
   * 1. mark the old record rotated (rotatedTo = the new handle, the grace deadline);
   * 2. read it again: another stepUp (another process) that marked it after us won;
   * 3. create the new record;
   * 4. read the old one again: if it was revoked (or re-marked by another process) since,
   *    delete the new record and resolve null, so a signOut in between cannot leave it alive.
   * Without compare-and-set in the store contract, two processes can still both win when
   * one's whole step 1-4 runs between the other's read and its step 1 (see the README).
   * Resolves the new token and its record, or null when another stepUp or a revoke won.
   */
  async rotate(found: Found, input: StepUpInput): Promise<{ token: string; record: SessionRecord } | null> {
    const { assuranceLevel, factorsUsed } = input;
    const { record: old, data, id: oldHandle } = found;
    if (assuranceLevel < old.assuranceLevel) {
      throw invalidInput(
        STORE,
        'stepUp',
        'assuranceLevel',
        `must not be lower than the session's level (${old.assuranceLevel})`,
      );
    }
    const now = this.#now();
    const token = newToken();
    const handle = handleOf(token);
    const next: SessionRecord = {
      id: handle,
      userId: old.userId,
      tenantId: old.tenantId,
      transactionId: old.transactionId,
      factorsUsed: [...new Set([...old.factorsUsed, ...factorsUsed])],
      assuranceLevel,
      metadata: wrapMetadata({ v: 1, rotatedFrom: oldHandle }, input.metadata === undefined ? data : input.metadata),
      createdAt: old.createdAt,
      lastActivityAt: new Date(now),
      expiresAt: new Date(this.#timeouts.expiry(old.createdAt.getTime(), now)),
    };
    const graceUntil = now + this.#rotationGraceMs;
    // The manager reads graceUntil; the store keeps the marked record at least MARK_KEEP_MS
    // (never past its own expiry), so that a short grace (or 0) leaves a valid expiresAt
    // and the mark can still be read back.
    const marked: SessionRecord = {
      ...old,
      metadata: wrapMetadata({ ...found.state, rotatedTo: handle, graceUntil }, data),
      expiresAt: new Date(Math.min(old.expiresAt.getTime(), Math.max(graceUntil, now + MARK_KEEP_MS))),
    };
    try {
      await this.#store.update(marked);
    } catch (error) {
      if (SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED')) return null;
      throw error;
    }
    this.#timeouts.forget(oldHandle);
    try {
      if (!(await this.#markedFor(oldHandle, handle))) return null; // another stepUp won
      await this.#store.create(next);
    } catch (error) {
      // Nothing was issued: put the old session back as it was, and remove the new record
      // in case the create took effect after all (best effort; if the backend is down this
      // fails too, and the old token ends with its grace window).
      await this.#store.update(old).catch(() => {});
      await this.#store.delete(handle).catch(() => {});
      throw error;
    }
    let won: boolean;
    try {
      won = await this.#markedFor(oldHandle, handle);
    } catch (error) {
      await this.#store.delete(handle).catch(() => {});
      throw error;
    }
    if (!won) {
      // Revoked (or re-marked elsewhere) while the new record was written: take it back.
      await this.#store.delete(handle);
      return null;
    }
    if (this.#rotationGraceMs === 0) await this.#store.delete(oldHandle);
    return { token, record: next };
  }

  /** True while the stored record `oldHandle` is marked as rotated to `handle`. */
  async #markedFor(oldHandle: string, handle: string): Promise<boolean> {
    const record = await getOrNull(this.#store, oldHandle);
    return record !== null && readState(record)?.state.rotatedTo === handle;
  }

  /**
   * Deletes the step-up chain of a revoked record: its successors (rotatedTo, so signing
   * out with an old token in its grace window also ends the token that replaced it) and
   * its predecessors still in grace (rotatedFrom). A link counts only when both records
   * name each other and belong to the same user and tenant; at most MAX_CHAIN each way.
   */
  async revokeChain(record: SessionRecord): Promise<void> {
    const state = readState(record)?.state;
    for (const [link, back] of [
      ['rotatedTo', 'rotatedFrom'],
      ['rotatedFrom', 'rotatedTo'],
    ] as const) {
      let from = record.id;
      let next = state?.[link];
      for (let i = 0; next !== undefined && i < MAX_CHAIN; i++) {
        const linked = await getOrNull(this.#store, next);
        const linkedState = linked === null ? undefined : readState(linked)?.state;
        if (linked === null) {
          // Expired (still recorded) or not there (yet: a stepUp that sees its old record
          // gone takes its new one back): delete the id anyway, and stop.
          await this.#store.delete(next);
          break;
        }
        if (
          linkedState === undefined ||
          linked.userId !== record.userId ||
          linked.tenantId !== record.tenantId ||
          linkedState[back] !== from
        ) {
          break;
        }
        await this.#store.delete(next);
        this.#timeouts.forget(next);
        from = next;
        next = linkedState[link];
      }
    }
  }
}
