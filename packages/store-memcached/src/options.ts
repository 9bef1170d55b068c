import type { BaseStoreOptions, KnownOptions } from '@sessionkit/core';
import type { Client } from 'memjs';

/** Options of {@link MemcachedSessionStore}. */
export interface MemcachedSessionStoreOptions extends BaseStoreOptions {
  /**
   * A memjs 1.3.x client (`memjs.Client.create('h1:11211,h2:11211')`), one server or many.
   * The caller owns it: the store never closes it. The store takes its server list
   * (host, port, SASL credentials, `timeout`, `conntimeout`, `keepAlive`) and its
   * `getServer(key)`, and sends its requests over connections of its own, without
   * memjs's retries, failover or logging (see the README); the client's `timeout`
   * (seconds) still bounds each request.
   */
  // biome-ignore lint/suspicious/noExplicitAny: any serializer types are accepted
  client: Client<any, any>;
  /**
   * Every key the store writes starts with this. Printable ASCII without spaces, at most
   * 100 characters. Give each store sharing a memcached its own prefix.
   * @default 'sessionkit:'
   */
  prefix?: string;
  /**
   * How long an expired session stays in memcached (so `get` reports `EXPIRED` rather
   * than `null`). Items expire at `expiresAt + expiredRetentionMs`; so does each user index.
   * @default 3600000 (one hour)
   */
  expiredRetentionMs?: number;
  /**
   * Every operation rejects `STORAGE` when memcached has not answered within this time.
   * @default 5000
   */
  operationTimeoutMs?: number;
  /**
   * The most sessions one (tenant, user) holds. A create past it removes that user's
   * sessions that expire soonest (ties: earliest createdAt, then smallest id), never the
   * new one. An integer from 1 to 1,000,000; keep the index of that many sessions (about
   * 80 bytes each) under memcached's item size limit (`-I`, 1 MB by default).
   * @default 1000
   */
  maxSessionsPerUser?: number;
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<MemcachedSessionStoreOptions> = {
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  client: true,
  prefix: true,
  expiredRetentionMs: true,
  operationTimeoutMs: true,
  maxSessionsPerUser: true,
};
