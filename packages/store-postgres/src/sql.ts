/**
 * The SQL text: identifiers and their rules, the table's DDL (`tableSql`) and every named
 * statement the store runs (`statements`), each with what its parameters are.
 */
import { createHash } from 'node:crypto';

/** The most bytes PostgreSQL keeps of an identifier (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

/** What `schema` and `table` may be: an unquoted-style SQL identifier (always quoted when used). */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Default schema. */
export const DEFAULT_SCHEMA = 'public';
/** Default table. */
export const DEFAULT_TABLE = 'sessionkit_sessions';

/** Most of one user's sessions a single statement reads or deletes (listByUser and deleteByUser page by it). */
export const USER_PAGE = 1000;

/** `"name"`: identifiers are validated first, so there is never a quote inside. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** An index name derived from the table that never exceeds PostgreSQL's 63-byte limit. */
function indexName(table: string, suffix: string): string {
  const name = `${table}_${suffix}`;
  if (name.length <= MAX_IDENTIFIER_BYTES) return name;
  const hash = createHash('sha256').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, MAX_IDENTIFIER_BYTES - suffix.length - 10)}_${hash}_${suffix}`;
}

/** Names and SQL of one store's table. */
export interface TableSql {
  /** `"schema"."table"` */
  readonly qualified: string;
  readonly userIndex: string;
  readonly expiresIndex: string;
  /** DDL statements, in order, each idempotent (`IF NOT EXISTS`). */
  readonly ddl: readonly string[];
}

/**
 * The table and its indexes. Columns:
 * - `id` text primary key (`COLLATE "C"`: byte comparison, no locale cost),
 * - `tenant_id`, `user_id` text: the (tenant, user, expires_at) index serves listByUser and
 *   deleteByUser page by page, and finds the sessions a create past maxSessionsPerUser removes,
 * - `created_at`, `expires_at`, `last_activity_at` bigint milliseconds since the epoch
 *   (exact, and any valid JavaScript Date fits, which timestamptz does not promise),
 * - `record` text: core's JSON encoding of the record as create/update wrote it (text, not
 *   jsonb, so strings holding U+0000 or lone surrogates round-trip exactly). The
 *   `expires_at` and `last_activity_at` columns are authoritative over the copies inside it.
 * No index covers `last_activity_at`, so touch (the hottest write) stays a HOT update;
 * `fillfactor = 80` leaves room on each page for those in-page updates.
 */
export function tableSql(schema: string, table: string): TableSql {
  const qualified = `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
  const userIndex = indexName(table, 'user_idx');
  const expiresIndex = indexName(table, 'expires_idx');
  const pkey = indexName(table, 'pkey');
  const ddl: string[] = [];
  if (schema !== DEFAULT_SCHEMA) ddl.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  ddl.push(
    `CREATE TABLE IF NOT EXISTS ${qualified} (
  id text COLLATE "C" NOT NULL,
  tenant_id text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  last_activity_at bigint NOT NULL,
  record text NOT NULL,
  CONSTRAINT ${quoteIdentifier(pkey)} PRIMARY KEY (id)
) WITH (fillfactor = 80)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(userIndex)} ON ${qualified} (tenant_id, user_id, expires_at)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(expiresIndex)} ON ${qualified} (expires_at)`,
  );
  return { qualified, userIndex, expiresIndex, ddl };
}

/** A named (prepared) statement: the name is a hash of the text, so equal texts share it. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

function statement(text: string): Statement {
  return { name: `sessionkit_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`, text };
}

/** Every statement a store runs. `$now` parameters come from the store's clock, never `now()`. */
export interface Statements {
  readonly get: Statement;
  readonly create: Statement;
  readonly touch: Statement;
  readonly extend: Statement;
  readonly update: Statement;
  readonly probe: Statement;
  readonly delete: Statement;
  readonly deleteByUser: Statement;
  readonly listByUser: Statement;
  readonly listByUserFrom: Statement;
  readonly cleanup: Statement;
}

export function statements(qualified: string, cleanupBatchSize: number): Statements {
  const t = qualified;
  return {
    // $1 id
    get: statement(`SELECT record, expires_at, last_activity_at FROM ${t} WHERE id = $1`),
    // $1..$7 rowValues (id, tenant, user, created, expires, lastActivity, record),
    // $8 maxSessionsPerUser. One statement, so one transaction: when the user already holds
    // $8 or more sessions, the ones that expire soonest (then oldest, then smallest id) go
    // until the new one makes exactly $8; never when the id exists (the INSERT is then a
    // CONFLICT and must change nothing). `held` counts at most $8 + USER_PAGE of the user's
    // index entries (an index-only scan), and at most USER_PAGE sessions go (a user far past
    // a lowered bound shrinks by that much per create). The gate `held >= $8` is the
    // DELETE's first condition, which the planner makes a one-time filter: below the bound
    // no other part of the DELETE runs. At the bound the victims' ids are chosen first (in
    // (expires_at, created_at, id) order) and deleted by primary key, whatever the planner
    // estimates of the user's size (matching the ids by the user index instead read every
    // one of the user's rows: 280 buffers per create at 1000). Those ids are the user's in
    // this statement's snapshot, and no statement changes a row's tenant or user, so the
    // DELETE needs no tenant/user condition of its own.
    create: statement(
      `WITH held AS (SELECT count(*)::int AS n FROM (SELECT 1 FROM ${t} WHERE tenant_id = $2 AND user_id = $3 LIMIT $8::int + ${USER_PAGE}) AS s),
evicted AS (DELETE FROM ${t} WHERE (SELECT n FROM held) >= $8::int AND id = ANY(ARRAY(
  SELECT id FROM ${t} WHERE tenant_id = $2 AND user_id = $3 AND NOT EXISTS (SELECT 1 FROM ${t} WHERE id = $1)
  ORDER BY expires_at, created_at, id
  LIMIT LEAST((SELECT n FROM held) - $8::int + 1, ${USER_PAGE}))))
INSERT INTO ${t} (id, tenant_id, user_id, created_at, expires_at, last_activity_at, record) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
    ),
    // $1 id, $2 now
    touch: statement(`UPDATE ${t} SET last_activity_at = $2 WHERE id = $1 AND expires_at > $2`),
    // $1 id, $2 now, $3 now + durationMs, $4 maxLifetimeMs (NULL: no cap; LEAST ignores NULL)
    extend: statement(
      `UPDATE ${t} SET expires_at = LEAST($3::bigint, created_at + $4::bigint), last_activity_at = $2 WHERE id = $1 AND expires_at > $2`,
    ),
    // $1..$7 as in create (rowValues), $8 now
    update: statement(
      `UPDATE ${t} SET expires_at = $5, last_activity_at = $6, record = $7 WHERE id = $1 AND expires_at > $8 AND tenant_id = $2 AND user_id = $3 AND created_at = $4`,
    ),
    // error path only: why did a touch/extend/update match no row? $1 id
    probe: statement(`SELECT tenant_id, user_id, created_at, expires_at FROM ${t} WHERE id = $1`),
    // $1 id
    delete: statement(`DELETE FROM ${t} WHERE id = $1`),
    // $1 tenant, $2 user, $3 now. One page: at most USER_PAGE of the user's sessions;
    // `seen` < USER_PAGE means the user has no more (rows others deleted meanwhile are gone
    // anyway, so the caller repeats while a page was full).
    deleteByUser: statement(
      `WITH page AS (SELECT id FROM ${t} WHERE tenant_id = $1 AND user_id = $2 LIMIT ${USER_PAGE}),
removed AS (DELETE FROM ${t} WHERE tenant_id = $1 AND user_id = $2 AND id IN (SELECT id FROM page) RETURNING expires_at)
SELECT (SELECT count(*) FROM page)::int AS seen, count(*) FILTER (WHERE expires_at > $3)::int AS live FROM removed`,
    ),
    // $1 tenant, $2 user, $3 now: the first page, in index order (expires_at, id)
    listByUser: statement(
      `SELECT id, record, expires_at, last_activity_at FROM ${t} WHERE tenant_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY expires_at, id LIMIT ${USER_PAGE}`,
    ),
    // $1 tenant, $2 user, $3 now, $4 and $5 the (expires_at, id) of the last row of the previous page
    listByUserFrom: statement(
      `SELECT id, record, expires_at, last_activity_at FROM ${t} WHERE tenant_id = $1 AND user_id = $2 AND expires_at > $3 AND (expires_at, id) > ($4::bigint, $5::text COLLATE "C") ORDER BY expires_at, id LIMIT ${USER_PAGE}`,
    ),
    // $1 now. One bounded batch: lock at most cleanupBatchSize expired rows that no one else
    // holds (SKIP LOCKED: concurrent runs neither wait nor double-count) and delete exactly
    // those by physical address (a TID scan, whatever the table's size or statistics). The
    // batch size is a validated integer, inlined so the planner sees a constant LIMIT.
    cleanup: statement(
      `DELETE FROM ${t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t} WHERE expires_at <= $1 LIMIT ${cleanupBatchSize} FOR UPDATE SKIP LOCKED)) AND expires_at <= $1`,
    ),
  };
}
