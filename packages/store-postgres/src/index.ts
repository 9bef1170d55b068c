/**
 * @module @sessionkit/store-postgres
 */
export type { PostgresSessionStoreOptions } from './options.js';
export { DEFAULT_CLEANUP_BATCH_SIZE, migrationSql, PostgresSessionStore } from './postgres-store.js';
export { DEFAULT_SCHEMA, DEFAULT_TABLE, MIGRATION_LOCK_KEY } from './sql.js';
