/**
 * The pooled statement runner: checks a connection out of the caller's `pg.Pool` per
 * statement, runs one named statement on it within the operation's deadline, cancels a
 * statement still running near that deadline on the server (a CancelRequest, as psql's
 * Ctrl-C) and destroys its connection; also the one-connection paths (`withClient` for
 * migrate, `inSnapshot` for a large listByUser: a read-only transaction bounded by
 * `SET LOCAL statement_timeout`).
 */
import { connect as netConnect } from 'node:net';
import { OperationDeadlines, SessionError, storageError, toStorageError } from '@sessionkit/core';
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { Statement } from './sql.js';

/** PostgreSQL's undefined_table and invalid_schema_name: the store was used before migrate(). */
const MISSING_TABLE_CODES = new Set(['42P01', '3F000']);

/**
 * How long before the deadline a statement still running is cancelled on the server:
 * a quarter of operationTimeoutMs, at most 1 s (room for the cancel to arrive and the
 * server's error to come back before the deadline).
 */
export function cancelMarginMs(operationTimeoutMs: number): number {
  return Math.min(1000, Math.floor(operationTimeoutMs / 4));
}

/** What a pg.Client exposes for a cancel request (undefined on pool-like wrappers' clients). */
interface CancelKey {
  processID?: unknown;
  secretKey?: unknown;
  host?: unknown;
  port?: unknown;
}

/**
 * Sends PostgreSQL's CancelRequest for the statement `client` is running: a new
 * connection to the same server carrying the backend's process id and secret key (what
 * psql's Ctrl-C does; no authentication, it holds no connection slot). Fire and forget,
 * bounded by `timeoutMs`, never keeps the process alive. Returns false when the client
 * carries no key (a pool-like wrapper's client): nothing was sent.
 */
function requestCancel(client: PoolClient, timeoutMs: number): boolean {
  const { processID, secretKey, host, port } = client as unknown as CancelKey;
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return false;
  if (typeof port !== 'number' || typeof host !== 'string' || host === '') return false;
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4); // the CancelRequest code
  packet.writeInt32BE(processID, 8);
  packet.writeInt32BE(secretKey, 12);
  try {
    const socket = host.startsWith('/') ? netConnect(`${host}/.s.PGSQL.${port}`) : netConnect(port, host);
    socket.on('error', () => {});
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.end(packet));
    socket.unref();
    return true;
  } catch {
    return false;
  }
}

/** Calls `fn` at `deadline` (a `performance.now()` time; at once if it has passed). */
function atDeadline(deadline: number, fn: () => void): { clear(): void } {
  const timer = setTimeout(fn, Math.max(0, deadline - performance.now()));
  return { clear: () => clearTimeout(timer) };
}

/** Runs statements for one store on its pool, each bounded by operationTimeoutMs. */
export class StatementRunner {
  readonly #store: string;
  readonly #pool: Pool;
  /** `"schema"."table"`, for the error that says to run migrate(). */
  readonly #qualified: string;
  readonly #timeoutMs: number;
  readonly #margin: number;
  readonly #deadlines: OperationDeadlines;
  /** Fires the cancel margin before each operation's deadline (equal to it for tiny timeouts). */
  readonly #cancels: OperationDeadlines;
  /** The rest of the deadline after a cancel was sent (undefined when there is no margin). */
  readonly #graces: OperationDeadlines | undefined;

  constructor(store: string, pool: Pool, qualified: string, deadlines: OperationDeadlines) {
    this.#store = store;
    this.#pool = pool;
    this.#qualified = qualified;
    this.#deadlines = deadlines;
    this.#timeoutMs = deadlines.ms;
    this.#margin = cancelMarginMs(this.#timeoutMs);
    this.#cancels = new OperationDeadlines(this.#timeoutMs - this.#margin, store);
    this.#graces = this.#margin > 0 ? new OperationDeadlines(this.#margin, store) : undefined;
  }

  /** operationTimeoutMs. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The deadline (on `performance.now()`'s scale) of an operation starting now. */
  deadline(): number {
    return performance.now() + this.#timeoutMs;
  }

  /**
   * The STORAGE error of a failed statement. A missing table or schema (the store used
   * before migrate()) says what to do, keeping PostgreSQL's error as the cause.
   */
  #failure(error: unknown, operation: string): SessionError {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && MISSING_TABLE_CODES.has(code) && !SessionError.isInstance(error)) {
      return storageError(
        this.#store,
        operation,
        `table ${this.#qualified} does not exist: run await store.migrate() once before using the store (or run the SQL from migrationSql() yourself) (${(error as Error).message})`,
        error,
      );
    }
    return toStorageError(error, this.#store, operation);
  }

  /**
   * Runs one named statement on a pooled connection within operationTimeoutMs (with
   * `deadline`: by that time, for the statements of one operation that share it).
   *
   * - A statement still running the cancel margin before the deadline is cancelled on the
   *   server (a CancelRequest on a new connection); PostgreSQL then aborts it and answers
   *   with an error, so the operation rejects STORAGE having changed nothing, and no backend
   *   keeps working (or waiting on a lock) for it. The connection is then destroyed, never
   *   reused: a cancel that arrives late must not hit someone else's statement.
   * - At the deadline itself (the server did not even answer the cancel: it hangs), the
   *   operation rejects and the connection is released with an error, so pg destroys it
   *   instead of handing a hung connection to the next caller.
   * - A checkout that completes after the cancel point is returned unused and the
   *   operation rejects then: the statement is never sent late.
   * - With `after`, the connection is checked out only once `after` settles (within the
   *   same deadline): creates of one user go one at a time.
   */
  run<R extends object = Record<string, unknown>>(
    operation: string,
    statement: Statement,
    values: unknown[],
    after?: Promise<void>,
    deadline?: number,
  ): Promise<QueryResult<R>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let client: PoolClient | undefined;
      let cancelled = false;
      let grace: { clear(): void } | undefined;
      const timeout = () => {
        if (settled) return;
        settled = true;
        const error = this.#deadlines.timeoutError(operation);
        if (client !== undefined) {
          if (!cancelled) requestCancel(client, this.#timeoutMs);
          // Released with an error, pg-pool destroys the connection instead of reusing it.
          client.release(error.cause as Error);
        }
        reject(error);
      };
      const onCancelPoint = () => {
        if (settled) return;
        if (client === undefined || this.#graces === undefined) {
          timeout(); // still waiting for a connection (or no margin left): give up now
          return;
        }
        cancelled = requestCancel(client, this.#timeoutMs);
        grace = deadline === undefined ? this.#graces.add(timeout) : atDeadline(deadline, timeout);
      };
      // One statement of a multi-statement operation gets only what is left of the
      // operation's deadline (the cancel point `margin` before it); a single statement
      // gets the whole operationTimeoutMs from the shared timer queue.
      const pending =
        deadline === undefined ? this.#cancels.add(onCancelPoint) : atDeadline(deadline - this.#margin, onCancelPoint);
      const fail = (error: unknown) => {
        settled = true;
        pending.clear();
        grace?.clear();
        reject(
          cancelled
            ? storageError(
                this.#store,
                operation,
                `backend did not answer within operationTimeoutMs (${this.#timeoutMs} ms); the statement was cancelled on the server`,
                error,
              )
            : this.#failure(error, operation),
        );
      };
      let answered = false;
      const onConnect = (error: Error | undefined | null, c: PoolClient | undefined) => {
        if (answered) return; // a pool that both calls back and returns a promise
        answered = true;
        if (error || c === undefined) {
          if (!settled) fail(error ?? new Error('pool.connect returned no client'));
          return;
        }
        if (settled) {
          c.release(); // the deadline passed while waiting: the statement is never sent
          return;
        }
        client = c;
        const onError = (e: Error) => {
          if (settled) return;
          c.release(e);
          fail(e);
        };
        c.once('error', onError);
        const onResult = (e: Error | undefined, result: QueryResult<R>) => {
          c.removeListener('error', onError);
          if (settled) return;
          // After a cancel request the connection is never reused (a cancel still on its
          // way would hit the next caller's statement).
          const dispose = cancelled ? new Error('statement cancelled') : undefined;
          if (e) {
            // A server-side error leaves the connection usable; pg-pool drops one whose
            // socket failed (it checks that the client is still queryable).
            c.release(dispose);
            fail(e);
            return;
          }
          settled = true;
          pending.clear();
          grace?.clear();
          c.release(dispose);
          resolve(result);
        };
        try {
          c.query<R>({ name: statement.name, text: statement.text, values }, onResult as never);
        } catch (e) {
          c.removeListener('error', onError);
          c.release(e as Error);
          fail(e);
        }
      };
      const checkout = () => {
        if (settled) return; // timed out while waiting for `after`
        if (deadline !== undefined && performance.now() >= deadline - this.#margin) {
          timeout(); // no time left to run (and still cancel) a statement: never send it
          return;
        }
        try {
          // pg.Pool calls back; a pool-like wrapper whose connect() only returns a promise
          // is served too.
          const returned = (this.#pool.connect as (cb: unknown) => unknown)(onConnect) as
            | Promise<PoolClient>
            | undefined;
          if (returned !== undefined && typeof returned.then === 'function') {
            returned.then(
              (c) => onConnect(undefined, c),
              (error: Error) => onConnect(error, undefined),
            );
          }
        } catch (error) {
          if (!settled) fail(error);
        }
      };
      if (after === undefined) checkout();
      else after.then(checkout);
    });
  }

  /**
   * Runs `work` in one REPEATABLE READ, READ ONLY transaction (one snapshot for several
   * statements) that must end by `deadline`: `SET LOCAL statement_timeout` makes the
   * server stop each statement by the cancel point, and `withClient` cancels and destroys
   * the connection at the deadline itself. Settings of the connection outlive nothing:
   * `SET LOCAL` ends with the transaction.
   */
  inSnapshot<T>(operation: string, deadline: number, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const left = Math.max(1, Math.floor(deadline - performance.now()));
    return this.withClient(operation, left, async (client) => {
      await client.query(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, left - this.#margin)}`,
      );
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    });
  }

  /**
   * Runs `work` on one checked-out connection (migrate, a large listByUser), destroying
   * it on a timeout after a cancel request for whatever statement it was running.
   */
  withClient<T>(operation: string, timeoutMs: number, work: (client: PoolClient) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let client: PoolClient | undefined;
      let released = false;
      const release = (error?: Error) => {
        if (released || client === undefined) return;
        released = true;
        client.release(error);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(this.#failure(error, operation));
      };
      const timer = setTimeout(() => {
        const cause = new Error(`timed out after ${timeoutMs} ms`);
        if (client !== undefined && !released) requestCancel(client, timeoutMs);
        release(cause);
        fail(storageError(this.#store, operation, `backend did not answer within ${timeoutMs} ms`, cause));
      }, timeoutMs);
      Promise.resolve()
        .then(() => this.#pool.connect())
        .then(
          async (c) => {
            client = c;
            if (settled) {
              release();
              return;
            }
            const onError = (error: Error) => {
              release(error);
              fail(error);
            };
            c.on('error', onError);
            try {
              const value = await work(c);
              c.removeListener('error', onError);
              release();
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              resolve(value);
            } catch (error) {
              c.removeListener('error', onError);
              release(error instanceof Error ? error : new Error(String(error)));
              fail(error);
            }
          },
          (error: unknown) => fail(error),
        );
    });
  }
}
