/**
 * @module @sessionkit/store-memcached
 */
export { MemcachedSessionStore } from './memcached-store.js';
export type { MemcachedSessionStoreOptions } from './options.js';
