import type { BaseStoreOptions } from '@sessionkit/core';

/** Default for `maxSessions`: 100 000 sessions. */
export const DEFAULT_MAX_SESSIONS = 100_000;

/** The longest `cleanupIntervalMs` a Node.js timer accepts (about 24.8 days). */
export const MAX_CLEANUP_INTERVAL_MS = 2 ** 31 - 1;

/** Options of {@link MemorySessionStore}. Every field is optional. */
export interface MemorySessionStoreOptions extends BaseStoreOptions {
  /**
   * The most sessions (expired ones included, until they are removed) the store holds.
   * When `create` would go over it, the store first removes every expired session and,
   * if that frees nothing, evicts the session that expires soonest (to the expiry
   * index's one-second granularity; within one second, the one that entered it first).
   * `Infinity` turns the bound off.
   * @default 100000
   */
  maxSessions?: number;
  /**
   * Runs `cleanupExpired()` every `cleanupIntervalMs` on an unref'd timer (it never keeps
   * the process alive); `close()` stops it. Leave it unset to sweep only when you call
   * `cleanupExpired()` (expired sessions are also removed first when `maxSessions` is
   * reached).
   * @default undefined (no background sweep)
   */
  cleanupIntervalMs?: number;
}
