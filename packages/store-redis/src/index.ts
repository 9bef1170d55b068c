/**
 * @module @sessionkit/store-redis
 */
export type { RedisSessionStoreOptions } from './options.js';
export { RedisSessionStore } from './redis-store.js';
