export { RedisSessionStore } from './redis-store.js';
export type { RedisSessionStoreOptions } from './options.js';
