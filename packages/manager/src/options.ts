// The manager's options: their types, defaults and bounds, and the one place they are
// read and checked (INVALID naming the option, through core's option helpers).
import {
  durationOption,
  invalidOption,
  type KnownOptions,
  type RecordRules,
  readCommonOptions,
  type SessionStore,
} from '@sessionkit/core';

/** The name in every error the manager throws: `[sessionkit/manager]`. */
export const STORE = 'manager';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The longest duration an option takes: about 10 years. */
const MAX_DURATION_MS = 10 * 365 * 24 * HOUR;
/** The most token -> handle hashes the cache may hold. */
const MAX_HASH_CACHE_SIZE = 1_000_000;

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * MINUTE;
export const DEFAULT_ABSOLUTE_TIMEOUT_MS = 12 * HOUR;
export const DEFAULT_TOUCH_AFTER_MS = MINUTE;
export const DEFAULT_ROTATION_GRACE_MS = 5_000;
export const DEFAULT_HASH_CACHE_SIZE = 1000;

/** Options of {@link SessionManager}. */
export interface SessionManagerOptions {
  /** Any sessionkit store. Give it the same `clock` as the manager. */
  store: SessionStore;
  /**
   * A session not seen for this long is over: `validate` answers `null` from
   * `lastActivityAt + idleTimeoutMs` on (at that millisecond).
   * @default 1_800_000 (30 minutes)
   */
  idleTimeoutMs?: number;
  /**
   * A session is over `absoluteTimeoutMs` after sign-in (`createdAt`), however active;
   * step-up keeps the sign-in time.
   * @default 43_200_000 (12 hours)
   */
  absoluteTimeoutMs?: number;
  /**
   * `validate` writes the new `lastActivityAt` (one `extend`) only when the stored one is
   * at least this old: at most one write per session per `touchAfterMs`. Must be less
   * than `idleTimeoutMs`.
   * @default 60_000 (1 minute)
   */
  touchAfterMs?: number;
  /**
   * After `stepUp`, the old token still validates for this long (requests already in
   * flight with the old cookie), then never again. 0 revokes it at once.
   * @default 5_000
   */
  rotationGraceMs?: number;
  /** Milliseconds since the epoch; every timeout decision uses it. @default Date.now */
  clock?: () => number;
  /**
   * How many token -> handle hashes to remember (first in, first out), so a token seen
   * again skips SHA-256. It holds tokens of recent requests in this process's memory, as
   * the requests themselves do. 0 turns it off.
   * @default 1000
   */
  hashCacheSize?: number;
}

export interface ResolvedOptions {
  store: SessionStore;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  touchAfterMs: number;
  rotationGraceMs: number;
  /** The clock, for core's `readClock` (a non-finite reading is INVALID `clock`). */
  rules: RecordRules;
  hashCacheSize: number;
}

const KNOWN_OPTIONS: KnownOptions<SessionManagerOptions> = {
  store: true,
  idleTimeoutMs: true,
  absoluteTimeoutMs: true,
  touchAfterMs: true,
  rotationGraceMs: true,
  clock: true,
  hashCacheSize: true,
};

function duration(options: Record<string, unknown>, option: string, fallback: number, min: number): number {
  return durationOption(STORE, option, options[option], fallback, { min, max: MAX_DURATION_MS });
}

/**
 * Reads and checks the options: an object with known names only (closest-name hint), a
 * store, a clock (core's common reading; the manager takes none of the store options),
 * integer durations up to about 10 years, touchAfterMs below idleTimeoutMs.
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  const { options, rules } = readCommonOptions(STORE, input, KNOWN_OPTIONS);
  const store = options.store as SessionStore | undefined;
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.create !== 'function' ||
    typeof store.capabilities !== 'object' ||
    store.capabilities === null
  ) {
    throw invalidOption(STORE, 'store', 'must be a sessionkit SessionStore');
  }
  const idleTimeoutMs = duration(options, 'idleTimeoutMs', DEFAULT_IDLE_TIMEOUT_MS, 1);
  const absoluteTimeoutMs = duration(options, 'absoluteTimeoutMs', DEFAULT_ABSOLUTE_TIMEOUT_MS, 1);
  const touchAfterMs = duration(options, 'touchAfterMs', Math.min(DEFAULT_TOUCH_AFTER_MS, idleTimeoutMs - 1), 0);
  if (touchAfterMs >= idleTimeoutMs) throw invalidOption(STORE, 'touchAfterMs', 'must be less than idleTimeoutMs');
  const rotationGraceMs = duration(options, 'rotationGraceMs', DEFAULT_ROTATION_GRACE_MS, 0);
  const hashCacheSize = durationOption(STORE, 'hashCacheSize', options.hashCacheSize, DEFAULT_HASH_CACHE_SIZE, {
    min: 0,
    max: MAX_HASH_CACHE_SIZE,
  });
  return { store, idleTimeoutMs, absoluteTimeoutMs, touchAfterMs, rotationGraceMs, rules, hashCacheSize };
}
