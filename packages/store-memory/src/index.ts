export { MemorySessionStore, type MemorySessionStoreStats } from './memory-store.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_USER,
  type MemorySessionStoreOptions,
} from './options.js';
