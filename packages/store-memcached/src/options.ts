// The options of MemcachedSessionStore: their types and docs, the names the constructor
// takes, their defaults, and reading them into the store's settings.
import {
  type BaseStoreOptions,
  invalidOption,
  type KnownOptions,
  type OperationDeadlines,
  type RecordRules,
  readCommonOptions,
} from '@sessionkit/core';
import type { Client } from 'memjs';
import { clientProblem, type MemjsClientInternals } from './connection.js';
import { STORE } from './context.js';
import { PREFIX_PATTERN } from './keys.js';

/** The prefix of every key when the `prefix` option is not given. */
export const DEFAULT_PREFIX = 'sessionkit:';

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
  telemetry: true,
};

/** The options, checked: what the store is built from. */
export interface Settings {
  client: MemjsClientInternals;
  prefix: string;
  rules: RecordRules;
  retentionMs: number;
  maxSessionsPerUser: number;
  deadlines: OperationDeadlines;
}

/** Reads and checks the constructor's options: INVALID naming the first bad one. */
export function readOptions(options: MemcachedSessionStoreOptions): Settings {
  const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, {
    server: true,
    backendExpires: true,
    perUser: true,
  });
  const { client, prefix = DEFAULT_PREFIX } = common.options;
  const problem = clientProblem(client);
  if (problem !== undefined) throw invalidOption(STORE, 'client', problem);
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw invalidOption(STORE, 'prefix', 'must be a string of at most 100 printable ASCII characters without spaces');
  }
  return {
    client: client as unknown as MemjsClientInternals,
    prefix,
    rules: common.rules,
    retentionMs: common.expiredRetentionMs,
    maxSessionsPerUser: common.maxSessionsPerUser,
    deadlines: common.deadlines as OperationDeadlines,
  };
}
