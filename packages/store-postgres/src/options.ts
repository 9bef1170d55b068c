/**
 * The store's options: their types and documentation, the names the constructor takes,
 * their defaults and bounds, and `readOptions`, which validates them once.
 */
import {
  BackgroundErrors,
  type BaseStoreOptions,
  durationOption,
  invalidOption,
  type KnownOptions,
  type OperationDeadlines,
  type RecordRules,
  readCommonOptions,
  type SessionError,
  timerOption,
} from '@sessionkit/core';
import type { Pool } from 'pg';

import { DEFAULT_SCHEMA, DEFAULT_TABLE, IDENTIFIER_PATTERN } from './sql.js';

/** The store's name in every error and span. */
export const STORE = 'postgres';
/** Default rows per cleanup statement. */
export const DEFAULT_CLEANUP_BATCH_SIZE = 2000;
/** Most rows per cleanup statement. */
const MAX_CLEANUP_BATCH_SIZE = 1_000_000;

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
  telemetry: true,
};

/** Everything the constructor reads from its options, validated. */
export interface ResolvedOptions {
  pool: Pool;
  schema: string;
  table: string;
  rules: RecordRules;
  deadlines: OperationDeadlines;
  maxSessionsPerUser: number;
  cleanupBatchSize: number;
  /** undefined: no cleanup timer. */
  cleanupIntervalMs: number | undefined;
  backgroundErrors: BackgroundErrors;
}

/** `schema` or `table`: INVALID unless an SQL identifier. */
export function identifierOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !IDENTIFIER_PATTERN.test(value)) {
    throw invalidOption(
      STORE,
      option,
      `must be an SQL identifier (a letter or _, then letters, digits, _ or $; at most 63 characters), got ${
        typeof value === 'string' ? JSON.stringify(value) : typeof value
      }`,
    );
  }
  return value;
}

/** A `pg.Pool`; INVALID for anything else, a single connection (a pg.Client) included. */
function poolOption(pool: unknown): Pool {
  if (
    typeof pool !== 'object' ||
    pool === null ||
    typeof (pool as Pool).connect !== 'function' ||
    typeof (pool as Pool).query !== 'function'
  ) {
    throw invalidOption(STORE, 'pool', 'must be a pg.Pool');
  }
  // A pg.Client (or a client checked out of a pool) has connect() and query() too, but the
  // store checks a connection out per statement: pg would fail on first use with "Client
  // has already been connected".
  if ('connectionParameters' in pool || typeof (pool as { release?: unknown }).release === 'function') {
    throw invalidOption(
      STORE,
      'pool',
      'must be a pg.Pool, got a single connection (a pg.Client): pass new pg.Pool({ ... }) instead; the store checks a connection out for each statement',
    );
  }
  return pool as Pool;
}

/** Validates the constructor's options once (INVALID naming the first bad one). */
export function readOptions(options: PostgresSessionStoreOptions): ResolvedOptions {
  const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, { server: true, perUser: true });
  const own = common.options;
  return {
    pool: poolOption(own.pool),
    schema: identifierOption('schema', own.schema, DEFAULT_SCHEMA),
    table: identifierOption('table', own.table, DEFAULT_TABLE),
    rules: common.rules,
    deadlines: common.deadlines,
    maxSessionsPerUser: common.maxSessionsPerUser,
    cleanupBatchSize: durationOption(STORE, 'cleanupBatchSize', own.cleanupBatchSize, DEFAULT_CLEANUP_BATCH_SIZE, {
      max: MAX_CLEANUP_BATCH_SIZE,
    }),
    cleanupIntervalMs:
      own.cleanupIntervalMs === undefined
        ? undefined
        : timerOption(STORE, 'cleanupIntervalMs', own.cleanupIntervalMs, 0),
    backgroundErrors: new BackgroundErrors(STORE, own.onError),
  };
}
