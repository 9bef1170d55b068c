// The options of MemorySessionStore: their type and documentation, defaults and bounds,
// the list of known names, and the one function that reads and validates them.
import {
  type BaseStoreOptions,
  durationOption,
  type KnownOptions,
  type RecordRules,
  readCommonOptions,
  type SessionError,
  timerOption,
} from '@sessionkit/core';

/** The store's name in every SessionError and span. */
export const STORE = 'memory';

/** Default for `maxSessions`: 100 000 sessions. */
export const DEFAULT_MAX_SESSIONS = 100_000;

/** Default for `maxBytes`: 64 MiB of accounted memory. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Options of {@link MemorySessionStore}. Every field is optional. */
export interface MemorySessionStoreOptions extends BaseStoreOptions {
  /**
   * The most sessions (expired ones included, until they are removed) the store holds.
   * When `create` would go over it, the store first removes every expired session, then
   * evicts as described under `maxBytes`. `Infinity` turns this bound off.
   * @default 100000
   */
  maxSessions?: number;
  /**
   * The most memory, in bytes, the sessions held may take, as the store accounts it:
   * each session costs its stored text (the record's encoding: one byte per character
   * when it is all ASCII, two otherwise) plus a fixed per-session and per-user overhead,
   * so the heap a session really takes stays within about that figure whatever the shape
   * of its metadata. When `create` (or an `update` that makes a record larger) would go
   * over it, expired sessions are removed first; then, while still over, the creating
   * user's own session that expires soonest is evicted if that user holds at least the
   * average bytes per user, and otherwise the session in the whole store that expires
   * soonest. Must be at least `2 * maxRecordBytes + 4096`. `Infinity` turns it off.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * The most sessions one (tenant, user) holds, expired ones included until removed
   * (integer from 1 to 1 000 000). A create for a user who already holds that many
   * removes, in the same step, that user's sessions that expire soonest (ties: earliest
   * createdAt, then smallest id) until the user holds exactly `maxSessionsPerUser`
   * including the new one (found through a per-user heap past 16 sessions). listByUser and deleteByUser
   * work through a user past 1 000 sessions in pages of 1 000.
   * @default 1000
   */
  maxSessionsPerUser?: number;
  /**
   * Runs `cleanupExpired()` every `cleanupIntervalMs` on an unref'd timer (it never keeps
   * the process alive); `close()` stops it. Leave it unset to sweep only when you call
   * `cleanupExpired()` (expired sessions are also removed first when `maxSessions` or
   * `maxBytes` is reached).
   * @default undefined (no background sweep)
   */
  cleanupIntervalMs?: number;
  /**
   * Called with the `SessionError` of each failed background sweep (the
   * `cleanupIntervalMs` timer's; nobody awaits it, so this is the only place its failure
   * shows, for example a `clock` that throws). An exception it throws is ignored.
   * @default a `console.warn` of the message, once per distinct message in a row (a sweep
   * that succeeds or fails differently logs again)
   */
  onError?: (error: SessionError) => void;
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<MemorySessionStoreOptions> = {
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  maxSessions: true,
  maxBytes: true,
  maxSessionsPerUser: true,
  cleanupIntervalMs: true,
  onError: true,
  telemetry: true,
};

/** The options, validated, with their defaults filled in. */
export interface MemoryStoreSettings {
  rules: RecordRules;
  maxSessions: number;
  maxBytes: number;
  maxSessionsPerUser: number;
  /** undefined: no background sweep. */
  cleanupIntervalMs: number | undefined;
}

/** Reads the constructor's options. @throws SessionError `INVALID` naming a bad or unknown option. */
export function readOptions(options: MemorySessionStoreOptions): MemoryStoreSettings {
  const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, { perUser: true });
  const rules = common.rules;
  const own = common.options;
  const maxSessions =
    own.maxSessions === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : durationOption(STORE, 'maxSessions', own.maxSessions, DEFAULT_MAX_SESSIONS);
  // Room for the largest record (two bytes a character), its id and its user's index.
  const minBytes = 2 * rules.maxRecordBytes + 4096;
  const maxBytes =
    own.maxBytes === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : durationOption(STORE, 'maxBytes', own.maxBytes, Math.max(DEFAULT_MAX_BYTES, minBytes), { min: minBytes });
  const cleanupIntervalMs =
    own.cleanupIntervalMs === undefined ? undefined : timerOption(STORE, 'cleanupIntervalMs', own.cleanupIntervalMs, 0);
  return { rules, maxSessions, maxBytes, maxSessionsPerUser: common.maxSessionsPerUser, cleanupIntervalMs };
}
