export { startMemcached } from './memcached.mjs';
export { startPostgres } from './postgres.mjs';
export { startRedis, startRedisCluster } from './redis.mjs';
export { freePort, sleep } from './util.mjs';
