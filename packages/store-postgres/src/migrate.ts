/**
 * The table's migration: `migrationSql()` (the DDL for people who run their own
 * migrations), `migrate()` (the same DDL in one transaction under an advisory lock) and
 * the layout check that refuses a table of another shape kept by `CREATE TABLE IF NOT
 * EXISTS`.
 */
import { invalidInput } from '@sessionkit/core';
import type { PoolClient } from 'pg';
import { identifierOption, STORE } from './options.js';
import type { StatementRunner } from './runner.js';
import { DEFAULT_SCHEMA, DEFAULT_TABLE, type TableSql, tableSql } from './sql.js';

/** Key of the transaction-scoped advisory lock `migrate()` holds (one for every sessionkit table). */
export const MIGRATION_LOCK_KEY = 5_313_846_203_478_112n;

/** migrate() may wait this long at least (DDL can queue behind other sessions' locks). */
const MIN_MIGRATE_TIMEOUT_MS = 30_000;

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
 * Creates the schema, table and indexes when missing, in one transaction under an
 * advisory lock (idempotent, and safe when many processes call it at once), within
 * `max(operationTimeoutMs, 30 s)`.
 */
export function migrate(runner: StatementRunner, schema: string, sql: TableSql): Promise<void> {
  const timeoutMs = Math.max(runner.timeoutMs, MIN_MIGRATE_TIMEOUT_MS);
  return runner.withClient('migrate', timeoutMs, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
      for (const statement of sql.ddl) {
        // CREATE SCHEMA needs the CREATE privilege on the database even when the schema
        // exists: skip it then, so a role that owns only its schema can migrate.
        if (statement.startsWith('CREATE SCHEMA')) {
          const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
          if (found.rowCount) continue;
        }
        await client.query(statement);
        // Before the indexes, which would fail on another table's columns first.
        if (statement.startsWith('CREATE TABLE')) await checkLayout(client, sql.qualified);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });
}

/** The columns the store reads and writes, with their types as `format_type()` spells them. */
const EXPECTED_COLUMNS: Readonly<Record<string, string>> = Object.freeze({
  id: 'text',
  tenant_id: 'text',
  user_id: 'text',
  created_at: 'bigint',
  expires_at: 'bigint',
  last_activity_at: 'bigint',
  record: 'text',
});

/** What `migrate()` reads about an existing table ($1: the quoted, qualified name). */
const LAYOUT_SQL = {
  kind: 'SELECT relkind FROM pg_class WHERE oid = $1::regclass',
  columns: `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null, atthasdef AS has_default
    FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
  // A unique index on (id) alone (the primary key is one): what ON CONFLICT (id) needs.
  uniqueId: `SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'id'`,
} as const;

/** One column of an existing table, as {@link LAYOUT_SQL}.columns reads it. */
interface ColumnInfo {
  name: string;
  type: string;
  not_null: boolean;
  has_default: boolean;
}

/**
 * `CREATE TABLE IF NOT EXISTS` keeps whatever table already has the name: check that it
 * is one this store can use, so a mismatch fails here, at boot, naming the difference,
 * instead of on the first request.
 */
async function checkLayout(client: PoolClient, qualified: string): Promise<void> {
  const name = [qualified];
  const kind = await client.query<{ relkind: string }>(LAYOUT_SQL.kind, name);
  const columns = await client.query<ColumnInfo>(LAYOUT_SQL.columns, name);
  const uniqueId = await client.query(LAYOUT_SQL.uniqueId, name);
  const problems = layoutProblems(kind.rows[0]?.relkind ?? '', columns.rows, (uniqueId.rowCount ?? 0) > 0);
  if (problems.length === 0) return;
  throw invalidInput(
    STORE,
    'migrate',
    'table',
    `${qualified} already exists and cannot hold sessions: ${problems.join('; ')}. Give the store another table (option table), or change that table to the layout migrationSql() prints`,
  );
}

/**
 * Why an existing relation cannot hold this store's sessions (empty when it can): a
 * table of another layout (connect-pg-simple's, an older one, a hand-made one) that
 * `CREATE TABLE IF NOT EXISTS` silently kept. Extra columns are fine when inserts can
 * leave them out (nullable, or with a default).
 */
function layoutProblems(relkind: string, columns: readonly ColumnInfo[], uniqueId: boolean): string[] {
  if (relkind !== 'r' && relkind !== 'p') return ['it is not a table'];
  const problems: string[] = [];
  const byName = new Map(columns.map((c) => [c.name, c]));
  for (const [name, type] of Object.entries(EXPECTED_COLUMNS)) {
    const column = byName.get(name);
    if (column === undefined) problems.push(`column ${name} is missing`);
    else if (column.type !== type) problems.push(`column ${name} is ${column.type}, not ${type}`);
  }
  for (const column of columns) {
    if (!(column.name in EXPECTED_COLUMNS) && column.not_null && !column.has_default) {
      problems.push(`column ${column.name} is NOT NULL without a default, so inserts would fail`);
    }
  }
  if (byName.has('id') && !uniqueId) problems.push('id has no primary key or unique index of its own');
  return problems;
}
