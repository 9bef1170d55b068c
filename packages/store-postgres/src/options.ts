import type { BaseStoreOptions } from '@sessionkit/core';
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
   * one is still going; a failed run is ignored and the next one tries again.
   * @default undefined (no timer: call cleanupExpired() yourself)
   */
  cleanupIntervalMs?: number;
  /**
   * Rows deleted per cleanup statement (each statement is its own short transaction).
   * @default 2000
   */
  cleanupBatchSize?: number;
  /**
   * Longest wait for the pool and PostgreSQL per statement, in ms. A statement that
   * does not answer in time rejects with `STORAGE` and its connection is destroyed (so a
   * hung server cannot keep pool connections checked out forever).
   * @default 5000
   */
  operationTimeoutMs?: number;
}
