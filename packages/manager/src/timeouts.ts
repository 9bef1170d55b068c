// The manager's timeout decisions: when a session is over (idle, absolute, store expiry,
// step-up grace, each at its exact millisecond), when it times out if left alone, and the
// idle window's sliding (one store `extend` at most per touchAfterMs, throttled in process).
import { SessionError, type SessionRecord, type SessionStore } from '@sessionkit/core';
import type { ManagerState } from './layout.js';

/** How many handles the in-process touch throttle remembers. */
const TOUCH_MEMORY = 10_000;

/** The durations the decisions use (resolved options). */
export interface TimeoutOptions {
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  touchAfterMs: number;
}

/**
 * The idle and absolute timeouts of one manager, and its slides. On a stateless store
 * nothing records activity, so the idle window counts from sign-in and never slides.
 */
export class Timeouts {
  readonly #idleTimeoutMs: number;
  readonly #absoluteTimeoutMs: number;
  readonly #touchAfterMs: number;
  readonly #stateless: boolean;
  readonly #store: SessionStore;
  /** handle -> time of the last slide this process wrote (the throttle within one process). */
  readonly #touched = new Map<string, number>();

  constructor(options: TimeoutOptions, store: SessionStore, stateless: boolean) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#absoluteTimeoutMs = options.absoluteTimeoutMs;
    this.#touchAfterMs = options.touchAfterMs;
    this.#store = store;
    this.#stateless = stateless;
  }

  /** Where the idle window starts: the last recorded activity, or sign-in on a stateless store. */
  #idleFrom(record: SessionRecord): number {
    return this.#stateless ? record.createdAt.getTime() : record.lastActivityAt.getTime();
  }

  /** The timeouts, at the exact millisecond: a session is over from each deadline on. */
  live(record: SessionRecord, state: ManagerState, now: number): boolean {
    return (
      now < this.#idleFrom(record) + this.#idleTimeoutMs &&
      now < record.createdAt.getTime() + this.#absoluteTimeoutMs &&
      now < record.expiresAt.getTime() &&
      (state.graceUntil === undefined || now < state.graceUntil)
    );
  }

  /** When the session times out if nothing slides it (the `expiresAt` the app sees). */
  deadline(record: SessionRecord, state: ManagerState | undefined): Date {
    return new Date(
      Math.min(
        this.#idleFrom(record) + this.#idleTimeoutMs,
        record.createdAt.getTime() + this.#absoluteTimeoutMs,
        record.expiresAt.getTime(),
        state?.graceUntil ?? Number.POSITIVE_INFINITY,
      ),
    );
  }

  /** The store expiry of a session signed in at `createdAtMs` and active at `now`: the sooner deadline. */
  expiry(createdAtMs: number, now: number): number {
    return Math.min(now + this.#idleTimeoutMs, createdAtMs + this.#absoluteTimeoutMs);
  }

  /** True when the stored activity is touchAfterMs old and no slide of this process covers it. */
  needsSlide(record: SessionRecord, id: string, now: number): boolean {
    if (now - record.lastActivityAt.getTime() < this.#touchAfterMs) return false;
    const last = this.#touched.get(id);
    return !(last !== undefined && now - last < this.#touchAfterMs && last >= record.lastActivityAt.getTime());
  }

  /** Slides the idle window (one extend); false when the session vanished meanwhile. */
  async slide(record: SessionRecord, id: string, now: number): Promise<boolean> {
    const expiresAt = this.expiry(record.createdAt.getTime(), now);
    if (this.#touched.size >= TOUCH_MEMORY) this.#touched.clear();
    this.#touched.set(id, now);
    try {
      await this.#store.extend(id, expiresAt - now);
    } catch (error) {
      this.#touched.delete(id);
      if (SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED')) return false;
      throw error;
    }
    record.lastActivityAt = new Date(now);
    record.expiresAt = new Date(expiresAt);
    return true;
  }

  /** Forgets this process's last slide of a session (rotated out or removed). */
  forget(id: string): void {
    this.#touched.delete(id);
  }
}
