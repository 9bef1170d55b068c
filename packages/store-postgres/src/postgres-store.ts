/**
 * `PostgresSessionStore`: the class and its public methods, each reading like the
 * contract. Statement text is in `sql.ts`, the record as a row in `rows.ts`, running
 * statements on the pool in `runner.ts`, the table's migration in `migrate.ts`, options
 * in `options.ts`.
 */
import {
  ALL_CAPABILITIES,
  type BackgroundErrors,
  checkExtendArgs,
  checkId,
  checkLive,
  checkRecord,
  checkUpdateTarget,
  checkUserArgs,
  compareSessions,
  conflict,
  generateSessionId,
  guard,
  instrumentStore,
  MAX_DATE_MS,
  notFound,
  type RecordRules,
  readClock,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
} from '@sessionkit/core';
import { migrate } from './migrate.js';
import { type PostgresSessionStoreOptions, readOptions, STORE } from './options.js';
import { decodeRow, type ProbeRow, type RecordRow, rowValues } from './rows.js';
import { StatementRunner } from './runner.js';
import { type Statements, statements, type TableSql, tableSql, USER_PAGE } from './sql.js';

function noop(): void {}

/**
 * Sessions in PostgreSQL through a caller-owned `pg.Pool`.
 *
 * Every operation is one named (prepared) statement in the normal path; expiry is decided
 * with the store's `clock`, passed as a parameter. Run {@link PostgresSessionStore.migrate}
 * (or `migrationSql()`) once before use.
 */
export class PostgresSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities = ALL_CAPABILITIES;
  /** The schema the table lives in. */
  readonly schema: string;
  /** The table. */
  readonly table: string;

  readonly #rules: RecordRules;
  readonly #runner: StatementRunner;
  readonly #sql: TableSql;
  readonly #q: Statements;
  readonly #batchSize: number;
  /** maxLifetimeMs as extend's parameter (null: no cap). */
  readonly #maxLifetime: string | null;
  readonly #maxSessionsPerUser: number;
  /**
   * Per (tenant, user): the settling of the latest create of this instance. A create for
   * the same user waits for it before it checks a connection out, so creates of one user
   * through one store never count that user's sessions at the same time (each statement
   * sees the ones before it: the bound is exact). Its deadline runs while it waits.
   */
  readonly #creating = new Map<string, Promise<void>>();
  readonly #backgroundErrors: BackgroundErrors;
  #timer: NodeJS.Timeout | undefined;
  #background: Promise<unknown> | undefined;

  constructor(options: PostgresSessionStoreOptions) {
    const resolved = readOptions(options);
    this.schema = resolved.schema;
    this.table = resolved.table;
    this.#rules = resolved.rules;
    this.#batchSize = resolved.cleanupBatchSize;
    this.#maxSessionsPerUser = resolved.maxSessionsPerUser;
    this.#backgroundErrors = resolved.backgroundErrors;
    this.#maxLifetime = this.#rules.maxLifetimeMs === undefined ? null : String(this.#rules.maxLifetimeMs);
    this.#sql = tableSql(this.schema, this.table);
    this.#q = statements(this.#sql.qualified, this.#batchSize);
    this.#runner = new StatementRunner(STORE, resolved.pool, this.#sql.qualified, resolved.deadlines);
    if (resolved.cleanupIntervalMs !== undefined) {
      this.#timer = setInterval(() => this.#backgroundCleanup(), resolved.cleanupIntervalMs);
      this.#timer.unref();
    }
    instrumentStore(this, STORE, options.telemetry);
  }

  /**
   * Creates the schema, table and indexes when missing. Idempotent, and safe when many
   * processes call it at once: it runs in one transaction under an advisory lock.
   */
  migrate(): Promise<void> {
    return guard(STORE, 'migrate', () => migrate(this.#runner, this.schema, this.#sql));
  }

  async create(record: SessionRecord): Promise<string> {
    try {
      const { record: r, encoded } = checkRecord(this.#rules, record, {
        operation: 'create',
        generateId: generateSessionId,
        customIds: true,
        output: 'encoded', // metadata checked and serialised in one walk
      });
      const params = [...rowValues(r, encoded), this.#maxSessionsPerUser];
      // Control characters never occur in tenant or user ids: U+0000 separates them.
      const key = `${r.tenantId}\u0000${r.userId}`;
      const work = this.#runner.run('create', this.#q.create, params, this.#creating.get(key));
      const settled = work.then(noop, noop);
      this.#creating.set(key, settled);
      let inserted: number | null;
      try {
        inserted = (await work).rowCount;
      } finally {
        if (this.#creating.get(key) === settled) this.#creating.delete(key);
      }
      if (inserted !== 1) throw conflict(STORE);
      return r.id;
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    try {
      if (!checkId(this.#rules, 'get', id)) return null;
      const now = Math.floor(readClock(this.#rules));
      const result = await this.#runner.run<RecordRow>('get', this.#q.get, [id]);
      const row = result.rows[0];
      if (row === undefined) return null;
      checkLive(STORE, 'get', Number(row.expires_at), now);
      return decodeRow(row);
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  update(record: SessionRecord): Promise<void> {
    return guard(STORE, 'update', async () => {
      const { record: r, now, encoded } = checkRecord(this.#rules, record, { operation: 'update', output: 'encoded' });
      if (!checkId(this.#rules, 'update', r.id)) throw notFound(STORE, 'update');
      const params = [...rowValues(r, encoded), Math.floor(now)];
      // The first statement has the whole operationTimeoutMs (as it starts now); the
      // error path's further statements get what is left of it.
      const deadline = this.#runner.deadline();
      for (let attempt = 0; ; attempt++) {
        const retry = attempt > 0 ? deadline : undefined;
        const result = await this.#runner.run('update', this.#q.update, params, undefined, retry);
        if (result.rowCount === 1) return;
        // Error path: find out why no row matched.
        const row = await this.#probe('update', r.id, deadline);
        checkUpdateTarget(
          this.#rules,
          row && {
            userId: row.user_id,
            tenantId: row.tenant_id,
            createdAtMs: Number(row.created_at),
            expiresAtMs: Number(row.expires_at),
          },
          r,
          now,
        );
        // Everything matches now: the session was created after our UPDATE looked. Once more.
        if (attempt > 0) throw notFound(STORE, 'update');
      }
    });
  }

  delete(id: string): Promise<void> {
    return guard(STORE, 'delete', async () => {
      if (!checkId(this.#rules, 'delete', id)) return;
      await this.#runner.run('delete', this.#q.delete, [id]);
    });
  }

  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return guard(STORE, 'deleteByUser', async () => {
      checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
      const now = Math.floor(readClock(this.#rules));
      // Page by page (each statement its own short transaction over at most USER_PAGE
      // sessions), so a user with 100,000 sessions never holds one statement for long. The
      // pages share one deadline: the whole call rejects within operationTimeoutMs.
      const deadline = this.#runner.deadline();
      let live = 0;
      for (;;) {
        const result = await this.#runner.run<{ seen: number; live: number }>(
          'deleteByUser',
          this.#q.deleteByUser,
          [tenantId, userId, now],
          undefined,
          deadline,
        );
        const row = result.rows[0];
        live += row?.live ?? 0;
        if ((row?.seen ?? 0) < USER_PAGE) return live;
      }
    });
  }

  extend(id: string, durationMs: number): Promise<void> {
    return guard(STORE, 'extend', async () => {
      const args = checkExtendArgs(this.#rules, id, durationMs);
      if (!args.named) throw notFound(STORE, 'extend');
      const now = Math.floor(readClock(this.#rules));
      // The maxLifetimeMs cap is applied by the statement, against the stored created_at.
      const until = Math.min(now + args.durationMs, MAX_DATE_MS);
      const deadline = this.#runner.deadline();
      const result = await this.#runner.run('extend', this.#q.extend, [id, now, until, this.#maxLifetime]);
      if (result.rowCount !== 1) await this.#whyNoRow('extend', id, now, deadline);
    });
  }

  async touch(id: string): Promise<void> {
    try {
      if (!checkId(this.#rules, 'touch', id)) throw notFound(STORE, 'touch');
      const now = Math.floor(readClock(this.#rules));
      const deadline = this.#runner.deadline();
      const result = await this.#runner.run('touch', this.#q.touch, [id, now]);
      if (result.rowCount !== 1) await this.#whyNoRow('touch', id, now, deadline);
    } catch (error) {
      throw toStorageError(error, STORE, 'touch');
    }
  }

  /**
   * Deletes expired sessions in batches of `cleanupBatchSize` (one short statement each,
   * `FOR UPDATE SKIP LOCKED`, so concurrent runs neither block each other nor count a row
   * twice) until a batch comes back short; resolves with the total.
   */
  cleanupExpired(): Promise<number> {
    return guard(STORE, 'cleanupExpired', async () => {
      const now = Math.floor(readClock(this.#rules));
      const deadline = this.#runner.deadline(); // one for every batch: the whole run is bounded
      let total = 0;
      for (;;) {
        const result = await this.#runner.run('cleanupExpired', this.#q.cleanup, [now], undefined, deadline);
        const removed = result.rowCount ?? 0;
        total += removed;
        if (removed < this.#batchSize) return total;
      }
    });
  }

  listByUser(userId: string, tenantId: TenantId): Promise<SessionRecord[]> {
    return guard(STORE, 'listByUser', async () => {
      checkUserArgs(this.#rules, 'listByUser', userId, tenantId);
      const now = Math.floor(readClock(this.#rules));
      const deadline = this.#runner.deadline();
      const params: [string, string, number] = [tenantId, userId, now];
      let rows = (await this.#runner.run<RecordRow>('listByUser', this.#q.listByUser, params)).rows;
      // More than one page: read them all again in one REPEATABLE READ transaction, so the
      // pages come from one snapshot (an extend between two pages cannot hide a session).
      if (rows.length >= USER_PAGE) rows = await this.#listAllPages(params, deadline);
      const out = rows.map(decodeRow);
      out.sort(compareSessions);
      return out;
    });
  }

  /** Every page of a large user's sessions, from one snapshot (one statement per page). */
  #listAllPages(params: [string, string, number], deadline: number): Promise<RecordRow[]> {
    const { listByUser, listByUserFrom } = this.#q;
    return this.#runner.inSnapshot('listByUser', deadline, async (client) => {
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
      return all;
    });
  }

  /** Stops the cleanup timer and waits for a run in progress. Never ends the pool. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    await this.#background;
  }

  #backgroundCleanup(): void {
    if (this.#background !== undefined) return;
    this.#background = this.cleanupExpired()
      .then(
        () => this.#backgroundErrors.succeeded(),
        (error: unknown) => this.#backgroundErrors.report(error, 'cleanupExpired'),
      )
      .finally(() => {
        this.#background = undefined;
      });
  }

  /** The stored facts of session `id` (error paths only: why did a statement match no row?). */
  async #probe(operation: string, id: string, deadline: number): Promise<ProbeRow | undefined> {
    return (await this.#runner.run<ProbeRow>(operation, this.#q.probe, [id], undefined, deadline)).rows[0];
  }

  /** touch/extend matched no row: NOT_FOUND or EXPIRED (a second statement, error path only). */
  async #whyNoRow(operation: string, id: string, now: number, deadline: number): Promise<never> {
    const row = await this.#probe(operation, id, deadline);
    checkLive(STORE, operation, row && Number(row.expires_at), now);
    // Live now: it was created, or extended, after the statement looked.
    throw notFound(STORE, operation);
  }
}
