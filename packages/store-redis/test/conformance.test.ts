import { describeSessionStore } from '@sessionkit/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { type ClusterTarget, clusterRedis, dropKeys, type SingleTarget, singleRedis } from './servers.js';

let single: SingleTarget;
let cluster: ClusterTarget;
let n = 0;
const prefixes = new WeakMap<RedisSessionStore, string>();

beforeAll(async () => {
  [single, cluster] = await Promise.all([singleRedis(), clusterRedis()]);
});
afterAll(async () => {
  await Promise.all([single?.stop(), cluster?.stop()]);
});

for (const mode of ['single', 'cluster'] as const) {
  const client = () => (mode === 'single' ? single.client : cluster.client);
  describeSessionStore({
    name: `RedisSessionStore (${mode})`,
    create: ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser, expiredRetentionMs }) => {
      const prefix = `conf${process.pid}-${n++}:`;
      const store = new RedisSessionStore({
        client: client(),
        prefix,
        clock,
        maxLifetimeMs,
        maxRecordBytes,
        ...(maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser }),
        ...(expiredRetentionMs === undefined ? {} : { expiredRetentionMs }),
      });
      prefixes.set(store, prefix);
      return store;
    },
    destroy: async (store) => {
      await store.close();
      await dropKeys(client(), prefixes.get(store) as string);
    },
    // Redis expires keys by itself: run the suite's tests of what that leaves behind.
    backendExpires: true,
    runner: { describe, it },
  });
}
