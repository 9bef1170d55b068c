/**
 * @module @sessionkit/store-memory
 */
export { MemorySessionStore, type MemorySessionStoreStats } from './memory-store.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_SESSIONS, type MemorySessionStoreOptions } from './options.js';
