import type { BaseStoreOptions, KnownOptions, SessionError } from '@sessionkit/core';
import type { Pool } from 'pg';

/** Options of {@link PostgresSessionStore}. */
export interface PostgresSessionStoreOptions extends BaseStoreOptions {
  /**
   * The `pg.Pool` the store runs its statements on. The caller owns it: the store never
   * ends it (not even in `close()`). Attach `pool.on('error', ...)` as pg recommends, or
   * an idle connection dropped by the server crashes the process.
   */
  pool: Pool;
  /**
   * Schema of the table: an identifier matching `/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/`. Always
   * quoted, so it is case-sensitive.
   * @default 'public'
   */
  schema?: string;
  /**
   * The table: an identifier matching `/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/`. Always quoted, so
   * it is case-sensitive.
   * @default 'sessionkit_sessions'
   */
  table?: string;
  /**
   * When set, `cleanupExpired()` runs every `cleanupIntervalMs` on an unref'd timer (it
   * never keeps the process alive) until `close()`. A run is skipped while the previous
   * one is still going; a failed run goes to `onError` and the next one tries again.
   * @default undefined (no timer: call cleanupExpired() yourself)
   */
  cleanupIntervalMs?: number;
  /**
   * Called with the `SessionError` of each failed background run (the `cleanupIntervalMs`
   * timer's cleanup; nobody awaits it, so this is the only place its failure shows). An
   * exception it throws is ignored.
   * @default a `console.warn` of the message, once per distinct message in a row (a run
   * that succeeds or fails differently logs again), so a table that is missing does not
   * log every interval
   */
  onError?: (error: SessionError) => void;
  /**
   * Most sessions one (tenant, user) holds, from 1 to 1,000,000. A create for a user who
   * already holds this many removes, in the same statement, that user's sessions that
   * expire soonest (ties: earliest createdAt, then smallest id) until the new one makes
   * exactly this many. Expired sessions not yet cleaned up count, and go first.
   * @default 1000
   */
  maxSessionsPerUser?: number;
  /**
   * Rows deleted per cleanup statement (each statement is its own short transaction).
   * @default 2000
   */
  cleanupBatchSize?: number;
  /**
   * Longest wait for the pool and PostgreSQL per statement, in ms; then `STORAGE`. A
   * statement still running `min(1000, operationTimeoutMs / 4)` ms before the deadline is
   * cancelled on the server (a cancel request, as psql's Ctrl-C), so it has no effect after
   * its rejection and no backend keeps working for it; its connection is destroyed (so a
   * hung server cannot keep pool connections checked out forever).
   * @default 5000
   */
  operationTimeoutMs?: number;
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<PostgresSessionStoreOptions> = {
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  pool: true,
  schema: true,
  table: true,
  cleanupIntervalMs: true,
  onError: true,
  maxSessionsPerUser: true,
  cleanupBatchSize: true,
  operationTimeoutMs: true,
};
