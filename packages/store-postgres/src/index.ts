/**
 * @module @sessionkit/store-postgres
 */
export { MIGRATION_LOCK_KEY, migrationSql } from './migrate.js';
export { DEFAULT_CLEANUP_BATCH_SIZE, type PostgresSessionStoreOptions } from './options.js';
export { PostgresSessionStore } from './postgres-store.js';
export { DEFAULT_SCHEMA, DEFAULT_TABLE } from './sql.js';
