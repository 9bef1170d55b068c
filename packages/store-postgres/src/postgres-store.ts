import { connect as netConnect } from 'node:net';
import {
  ALL_CAPABILITIES,
  assertOptionsObject,
  checkDuration,
  checkId,
  checkImmutableFields,
  checkRecord,
  checkUserArgs,
  compareSessions,
  conflict,
  DEFAULT_OPERATION_TIMEOUT_MS,
  decodeRecord,
  durationOption,
  expired,
  generateSessionId,
  maxSessionsPerUserOption,
  notFound,
  OperationDeadlines,
  type RecordRules,
  readClock,
  rejectUnknownOptions,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { KNOWN_OPTIONS, type PostgresSessionStoreOptions } from './options.js';
import {
  type ColumnInfo,
  DEFAULT_SCHEMA,
  DEFAULT_TABLE,
  IDENTIFIER_PATTERN,
  LAYOUT_SQL,
  layoutProblems,
  MIGRATION_LOCK_KEY,
  type Statement,
  type Statements,
  statements,
  type TableSql,
  tableSql,
  USER_PAGE,
} from './sql.js';

const STORE = 'postgres';
/** Default rows per cleanup statement. */
export const DEFAULT_CLEANUP_BATCH_SIZE = 2000;
/** migrate() may wait this long at least (DDL can queue behind other sessions' locks). */
const MIN_MIGRATE_TIMEOUT_MS = 30_000;
/** The latest valid JavaScript Date, in ms: extend never writes an expiry past it. */
const MAX_DATE_MS = 8.64e15;
/** PostgreSQL's undefined_table and invalid_schema_name: the store was used before migrate(). */
const MISSING_TABLE_CODES = new Set(['42P01', '3F000']);

/**
 * How long before the deadline a statement still running is cancelled on the server:
 * a quarter of operationTimeoutMs, at most 1 s (room for the cancel to arrive and the
 * server's error to come back before the deadline).
 */
function cancelMarginMs(operationTimeoutMs: number): number {
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
  const key = client as unknown as CancelKey;
  const { processID, secretKey, host, port } = key;
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

function noop(): void {}

interface RecordRow {
  id?: string;
  record: string;
  expires_at: string;
  last_activity_at: string;
}

interface ProbeRow {
  tenant_id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
}

function invalidOption(option: string, problem: string): SessionError {
  return new SessionError('INVALID', `option ${option} ${problem}`, {
    store: STORE,
    operation: 'constructor',
    field: option,
  });
}

function identifierOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !IDENTIFIER_PATTERN.test(value)) {
    throw invalidOption(
      option,
      `must be an SQL identifier (a letter or _, then letters, digits, _ or $; at most 63 characters), got ${
        typeof value === 'string' ? JSON.stringify(value) : typeof value
      }`,
    );
  }
  return value;
}

/**
 * The SQL that creates the table and its indexes, for people who run their own
 * migrations (the same statements `migrate()` runs, each idempotent). Throws `INVALID`
 * for a bad schema or table name.
 */
export function migrationSql(options: { schema?: string; table?: string } = {}): string {
  const schema = identifierOption('schema', options.schema, DEFAULT_SCHEMA);
  const table = identifierOption('table', options.table, DEFAULT_TABLE);
  return `${tableSql(schema, table).ddl.join(';\n\n')};\n`;
}

/**
 * Sessions in PostgreSQL through a caller-owned `pg.Pool`.
 *
 * Every operation is one named (prepared) statement in the normal path; expiry is decided
 * with the store's `clock`, passed as a parameter. Run {@link PostgresSessionStore.migrate}
 * (or {@link migrationSql}) once before use.
 */
export class PostgresSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;
  /** The schema the table lives in. */
  readonly schema: string;
  /** The table. */
  readonly table: string;

  private readonly pool: Pool;
  private readonly rules: RecordRules;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly sql: TableSql;
  private readonly q: Statements;
  private readonly maxLifetime: string | null;
  private readonly deadlines: OperationDeadlines;
  /** Fires cancelMarginMs before each operation's deadline (equal to it for tiny timeouts). */
  private readonly cancels: OperationDeadlines;
  /** The rest of the deadline after a cancel was sent (undefined when there is no margin). */
  private readonly graces: OperationDeadlines | undefined;
  private readonly maxPerUser: number;
  /**
   * Per (tenant, user): the settling of the latest create of this instance. A create for
   * the same user waits for it before it checks a connection out, so creates of one user
   * through one store never count that user's sessions at the same time (each statement
   * sees the ones before it: the bound is exact). Its deadline runs while it waits.
   */
  private readonly creating = new Map<string, Promise<void>>();
  private readonly onError: ((error: SessionError) => void) | undefined;
  /** The default onError's last logged message (cleared by a background run that succeeds). */
  private lastWarning: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private background: Promise<unknown> | undefined;

  constructor(options: PostgresSessionStoreOptions) {
    assertOptionsObject(STORE, options);
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
    const pool = options.pool as unknown;
    if (
      typeof pool !== 'object' ||
      pool === null ||
      typeof (pool as Pool).connect !== 'function' ||
      typeof (pool as Pool).query !== 'function'
    ) {
      throw invalidOption('pool', 'must be a pg.Pool');
    }
    // A pg.Client (or a client checked out of a pool) has connect() and query() too, but the
    // store checks a connection out per statement: pg would fail on first use with "Client
    // has already been connected".
    if ('connectionParameters' in pool || typeof (pool as { release?: unknown }).release === 'function') {
      throw invalidOption(
        'pool',
        'must be a pg.Pool, got a single connection (a pg.Client): pass new pg.Pool({ ... }) instead; the store checks a connection out for each statement',
      );
    }
    this.pool = pool as Pool;
    this.schema = identifierOption('schema', options.schema, DEFAULT_SCHEMA);
    this.table = identifierOption('table', options.table, DEFAULT_TABLE);
    this.rules = resolveRecordRules(STORE, options);
    this.timeoutMs = durationOption(
      STORE,
      'operationTimeoutMs',
      options.operationTimeoutMs,
      DEFAULT_OPERATION_TIMEOUT_MS,
      {
        max: 2_147_483_647,
      },
    );
    this.batchSize = durationOption(STORE, 'cleanupBatchSize', options.cleanupBatchSize, DEFAULT_CLEANUP_BATCH_SIZE, {
      max: 1_000_000,
    });
    const interval =
      options.cleanupIntervalMs === undefined
        ? undefined
        : durationOption(STORE, 'cleanupIntervalMs', options.cleanupIntervalMs, 0, { max: 2_147_483_647 });
    this.maxPerUser = maxSessionsPerUserOption(STORE, options.maxSessionsPerUser);
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw invalidOption('onError', `must be a function, got ${typeof options.onError}`);
    }
    this.onError = options.onError;
    this.deadlines = new OperationDeadlines(this.timeoutMs, STORE);
    const margin = cancelMarginMs(this.timeoutMs);
    this.cancels = new OperationDeadlines(this.timeoutMs - margin, STORE);
    this.graces = margin > 0 ? new OperationDeadlines(margin, STORE) : undefined;
    this.maxLifetime = this.rules.maxLifetimeMs === undefined ? null : String(this.rules.maxLifetimeMs);
    this.sql = tableSql(this.schema, this.table);
    this.q = statements(this.sql.qualified, this.batchSize);
    if (interval !== undefined) {
      this.timer = setInterval(() => this.backgroundCleanup(), interval);
      this.timer.unref();
    }
  }

  /**
   * Creates the schema, table and indexes when missing. Idempotent, and safe when many
   * processes call it at once: it runs in one transaction under an advisory lock.
   */
  async migrate(): Promise<void> {
    const ddl = this.sql.ddl;
    const schema = this.schema;
    await this.withClient('migrate', Math.max(this.timeoutMs, MIN_MIGRATE_TIMEOUT_MS), async (client) => {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
        for (const statement of ddl) {
          // CREATE SCHEMA needs the CREATE privilege on the database even when the schema
          // exists: skip it then, so a role that owns only its schema can migrate.
          if (statement.startsWith('CREATE SCHEMA')) {
            const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
            if (found.rowCount) continue;
          }
          await client.query(statement);
          // Before the indexes, which would fail on another table's columns first.
          if (statement.startsWith('CREATE TABLE')) await this.checkLayout(client);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /**
   * `CREATE TABLE IF NOT EXISTS` keeps whatever table already has the name: check that it
   * is one this store can use, so a mismatch fails here, at boot, naming the difference,
   * instead of on the first request.
   */
  private async checkLayout(client: PoolClient): Promise<void> {
    const name = [this.sql.qualified];
    const kind = await client.query<{ relkind: string }>(LAYOUT_SQL.kind, name);
    const columns = await client.query<ColumnInfo>(LAYOUT_SQL.columns, name);
    const uniqueId = await client.query(LAYOUT_SQL.uniqueId, name);
    const problems = layoutProblems(kind.rows[0]?.relkind ?? '', columns.rows, (uniqueId.rowCount ?? 0) > 0);
    if (problems.length === 0) return;
    throw new SessionError(
      'INVALID',
      `${this.sql.qualified} already exists and cannot hold sessions: ${problems.join('; ')}. Give the store another table (option table), or change that table to the layout migrationSql() prints`,
      { store: STORE, operation: 'migrate', field: 'table' },
    );
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      const { record: r, encoded } = checkRecord(this.rules, record, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      // Control characters never occur in tenant or user ids: U+0000 separates them.
      const key = `${r.tenantId}\u0000${r.userId}`;
      const work = this.run(
        'create',
        this.q.create,
        [
          r.id,
          r.tenantId,
          r.userId,
          r.createdAt.getTime(),
          r.expiresAt.getTime(),
          r.lastActivityAt.getTime(),
          encoded,
          this.maxPerUser,
        ],
        this.creating.get(key),
      );
      const settled = work.then(noop, noop);
      this.creating.set(key, settled);
      let result: QueryResult;
      try {
        result = await work;
      } finally {
        if (this.creating.get(key) === settled) this.creating.delete(key);
      }
      if (result.rowCount !== 1) throw conflict(STORE);
      return r.id;
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    try {
      if (!checkId(this.rules, 'get', id)) return null;
      const now = Math.floor(readClock(this.rules));
      const result = await this.run<RecordRow>('get', this.q.get, [id]);
      const row = result.rows[0];
      if (row === undefined) return null;
      if (Number(row.expires_at) <= now) throw expired(STORE, 'get');
      return this.decode(row);
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  async update(record: SessionRecord): Promise<void> {
    try {
      const { record: r, now, encoded } = checkRecord(this.rules, record, { operation: 'update', output: 'encoded' });
      if (!checkId(this.rules, 'update', r.id)) throw notFound(STORE, 'update');
      const params = [
        r.id,
        Math.floor(now),
        r.tenantId,
        r.userId,
        r.createdAt.getTime(),
        r.expiresAt.getTime(),
        r.lastActivityAt.getTime(),
        encoded,
      ];
      for (let attempt = 0; ; attempt++) {
        const result = await this.run('update', this.q.update, params);
        if (result.rowCount === 1) return;
        // Error path: find out why no row matched.
        const row = (await this.run<ProbeRow>('update', this.q.probe, [r.id])).rows[0];
        if (row === undefined) throw notFound(STORE, 'update');
        if (Number(row.expires_at) <= now) throw expired(STORE, 'update');
        checkImmutableFields(
          this.rules,
          { userId: row.user_id, tenantId: row.tenant_id as TenantId, createdAt: new Date(Number(row.created_at)) },
          r,
        );
        // Everything matches now: the session was created after our UPDATE looked. Once more.
        if (attempt > 0) throw notFound(STORE, 'update');
      }
    } catch (error) {
      throw toStorageError(error, STORE, 'update');
    }
  }

  async delete(id: string): Promise<void> {
    try {
      if (!checkId(this.rules, 'delete', id)) return;
      await this.run('delete', this.q.delete, [id]);
    } catch (error) {
      throw toStorageError(error, STORE, 'delete');
    }
  }

  async deleteByUser(userId: string, tenant: TenantId): Promise<number> {
    try {
      checkUserArgs(this.rules, 'deleteByUser', userId, tenant);
      const now = Math.floor(readClock(this.rules));
      // Page by page (each statement its own short transaction over at most USER_PAGE
      // sessions), so a user with 100,000 sessions never holds one statement for long.
      let live = 0;
      for (;;) {
        const result = await this.run<{ seen: number; live: number }>('deleteByUser', this.q.deleteByUser, [
          tenant,
          userId,
          now,
        ]);
        const row = result.rows[0];
        live += row?.live ?? 0;
        if ((row?.seen ?? 0) < USER_PAGE) return live;
      }
    } catch (error) {
      throw toStorageError(error, STORE, 'deleteByUser');
    }
  }

  async extend(id: string, durationMs: number): Promise<void> {
    try {
      const valid = checkId(this.rules, 'extend', id);
      const duration = checkDuration(this.rules, durationMs);
      if (!valid) throw notFound(STORE, 'extend');
      const now = Math.floor(readClock(this.rules));
      const until = Math.min(now + duration, MAX_DATE_MS);
      const result = await this.run('extend', this.q.extend, [id, now, until, this.maxLifetime]);
      if (result.rowCount !== 1) await this.whyNoRow('extend', id, now);
    } catch (error) {
      throw toStorageError(error, STORE, 'extend');
    }
  }

  async touch(id: string): Promise<void> {
    try {
      if (!checkId(this.rules, 'touch', id)) throw notFound(STORE, 'touch');
      const now = Math.floor(readClock(this.rules));
      const result = await this.run('touch', this.q.touch, [id, now]);
      if (result.rowCount !== 1) await this.whyNoRow('touch', id, now);
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  /**
   * Deletes expired sessions in batches of `cleanupBatchSize` (one short statement each,
   * `FOR UPDATE SKIP LOCKED`, so concurrent runs neither block each other nor count a row
   * twice) until a batch comes back short; resolves with the total.
   */
  async cleanupExpired(): Promise<number> {
    try {
      const now = Math.floor(readClock(this.rules));
      let total = 0;
      for (;;) {
        const result = await this.run('cleanupExpired', this.q.cleanup, [now]);
        const removed = result.rowCount ?? 0;
        total += removed;
        if (removed < this.batchSize) return total;
      }
    } catch (error) {
      throw toStorageError(error, STORE, 'cleanupExpired');
    }
  }

  async listByUser(userId: string, tenant: TenantId): Promise<SessionRecord[]> {
    try {
      checkUserArgs(this.rules, 'listByUser', userId, tenant);
      const now = Math.floor(readClock(this.rules));
      const first = await this.run<RecordRow>('listByUser', this.q.listByUser, [tenant, userId, now]);
      let rows = first.rows;
      // More than one page: read them all again in one REPEATABLE READ transaction, so the
      // pages come from one snapshot (an extend between two pages cannot hide a session).
      if (rows.length >= USER_PAGE) rows = await this.listAllPages([tenant, userId, now]);
      const out = rows.map((row) => this.decode(row));
      out.sort(compareSessions);
      return out;
    } catch (error) {
      throw toStorageError(error, STORE, 'listByUser');
    }
  }

  /** Every page of a large user's sessions, from one snapshot (one statement per page). */
  private listAllPages(params: [string, string, number]): Promise<RecordRow[]> {
    const { listByUser, listByUserFrom } = this.q;
    return this.withClient('listByUser', this.timeoutMs, async (client) => {
      await client.query(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${this.timeoutMs - cancelMarginMs(this.timeoutMs) || 1}`,
      );
      const all: RecordRow[] = [];
      let page = (await client.query<RecordRow>({ name: listByUser.name, text: listByUser.text, values: params })).rows;
      for (;;) {
        all.push(...page);
        const last = page[page.length - 1];
        if (page.length < USER_PAGE || last === undefined) break;
        const from = [...params, last.expires_at, last.id];
        page = (await client.query<RecordRow>({ name: listByUserFrom.name, text: listByUserFrom.text, values: from }))
          .rows;
      }
      await client.query('COMMIT');
      return all;
    });
  }

  /** Stops the cleanup timer and waits for a run in progress. Never ends the pool. */
  async close(): Promise<void> {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    await this.background;
  }

  private backgroundCleanup(): void {
    if (this.background !== undefined) return;
    this.background = this.cleanupExpired()
      .then(
        () => {
          this.lastWarning = undefined;
        },
        (error: unknown) => this.backgroundError(toStorageError(error, STORE, 'cleanupExpired')),
      )
      .finally(() => {
        this.background = undefined;
      });
  }

  /**
   * A failed background run goes to onError. Without one: `console.warn`, except that a
   * failure with the same message as the previous one, with no successful run between, is
   * not logged again (a missing table would otherwise log every interval).
   */
  private backgroundError(error: SessionError): void {
    if (this.onError !== undefined) {
      try {
        this.onError(error);
      } catch {
        // the hook's own failure must not become an unhandled rejection
      }
      return;
    }
    if (error.message === this.lastWarning) return;
    this.lastWarning = error.message;
    console.warn(`${error.message} (background cleanup; set the store's onError option to handle it)`);
  }

  private decode(row: RecordRow): SessionRecord {
    const record = decodeRecord(row.record, STORE);
    record.expiresAt = new Date(Number(row.expires_at));
    record.lastActivityAt = new Date(Number(row.last_activity_at));
    return record;
  }

  /** touch/extend matched no row: NOT_FOUND or EXPIRED (a second statement, error path only). */
  private async whyNoRow(operation: string, id: string, now: number): Promise<never> {
    const row = (await this.run<ProbeRow>(operation, this.q.probe, [id])).rows[0];
    if (row !== undefined && Number(row.expires_at) <= now) throw expired(STORE, operation);
    throw notFound(STORE, operation);
  }

  /**
   * The STORAGE error of a failed statement. A missing table or schema (the store used
   * before migrate()) says what to do, keeping PostgreSQL's error as the cause.
   */
  private storageError(error: unknown, operation: string): SessionError {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && MISSING_TABLE_CODES.has(code) && !SessionError.isInstance(error)) {
      return new SessionError(
        'STORAGE',
        `table ${this.sql.qualified} does not exist: run await store.migrate() once before using the store (or run the SQL from migrationSql() yourself) (${(error as Error).message})`,
        { store: STORE, operation, cause: error },
      );
    }
    return toStorageError(error, STORE, operation);
  }

  /**
   * Runs one named statement on a pooled connection within operationTimeoutMs.
   *
   * - A statement still running `cancelMarginMs` before the deadline is cancelled on the
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
  private run<R extends object = Record<string, unknown>>(
    operation: string,
    statement: Statement,
    values: unknown[],
    after?: Promise<void>,
  ): Promise<QueryResult<R>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let client: PoolClient | undefined;
      let cancelled = false;
      let grace: { clear(): void } | undefined;
      const timeout = () => {
        if (settled) return;
        settled = true;
        const error = this.deadlines.timeoutError(operation);
        if (client !== undefined) {
          if (!cancelled) requestCancel(client, this.timeoutMs);
          // Released with an error, pg-pool destroys the connection instead of reusing it.
          client.release(error.cause as Error);
        }
        reject(error);
      };
      const pending = this.cancels.add(() => {
        if (settled) return;
        if (client === undefined || this.graces === undefined) {
          timeout(); // still waiting for a connection (or no margin left): give up now
          return;
        }
        cancelled = requestCancel(client, this.timeoutMs);
        grace = this.graces.add(timeout);
      });
      const fail = (error: unknown) => {
        settled = true;
        pending.clear();
        grace?.clear();
        reject(
          cancelled
            ? new SessionError(
                'STORAGE',
                `backend did not answer within operationTimeoutMs (${this.timeoutMs} ms); the statement was cancelled on the server`,
                { store: STORE, operation, cause: error },
              )
            : this.storageError(error, operation),
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
        try {
          // pg.Pool calls back; a pool-like wrapper whose connect() only returns a promise
          // is served too.
          const returned = (this.pool.connect as (cb: unknown) => unknown)(onConnect) as
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
   * Runs `work` on one checked-out connection (migrate, a large listByUser), destroying
   * it on a timeout after a cancel request for whatever statement it was running.
   */
  private withClient<T>(operation: string, timeoutMs: number, work: (client: PoolClient) => Promise<T>): Promise<T> {
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
        reject(this.storageError(error, operation));
      };
      const timer = setTimeout(() => {
        const cause = new Error(`timed out after ${timeoutMs} ms`);
        if (client !== undefined && !released) requestCancel(client, timeoutMs);
        release(cause);
        fail(
          new SessionError('STORAGE', `backend did not answer within ${timeoutMs} ms`, {
            store: STORE,
            operation,
            cause,
          }),
        );
      }, timeoutMs);
      Promise.resolve()
        .then(() => this.pool.connect())
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
