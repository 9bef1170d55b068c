import { describeSessionStore } from '@sessionkit/core/testing';
import type memjs from 'memjs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MemcachedSessionStore } from '../src/index.js';
import { makeClient, memcachedServers, type Servers } from './helpers.js';

const capabilities = { list: true, revoke: true, revokeUser: true, mutate: true, cleanup: false, customIds: true };

for (const count of [1, 3]) {
  describe(`memcached x${count}`, () => {
    let servers: Servers;
    let client: memjs.Client;
    let n = 0;
    beforeAll(async () => {
      servers = await memcachedServers(count);
      client = makeClient(servers.servers.join(','));
    });
    afterAll(async () => {
      client?.close();
      await servers?.stop();
    });

    describeSessionStore({
      name: `MemcachedSessionStore (${count === 1 ? 'one server' : `pool of ${count}`})`,
      create: ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser, expiredRetentionMs }) =>
        new MemcachedSessionStore({
          client,
          prefix: `c${count}t${n++}:${process.pid}:`,
          clock,
          maxLifetimeMs,
          maxRecordBytes,
          ...(maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser }),
          ...(expiredRetentionMs === undefined ? {} : { expiredRetentionMs }),
        }),
      capabilities,
      backendExpires: true,
      runner: { describe, it },
    });
  });
}
