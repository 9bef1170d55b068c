import type { BaseStoreOptions, KnownOptions } from '@sessionkit/core';
import type { Cluster, Redis } from 'ioredis';

/** Options of {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions extends BaseStoreOptions {
  /**
   * A connected ioredis `Redis` or `Cluster` that you own: the store never closes it.
   * Create it with `enableOfflineQueue: false` (recommended; the store also refuses to
   * send anything while `client.status !== 'ready'`).
   */
  client: Redis | Cluster;
  /**
   * Every key the store writes starts with this. Must not contain `{` or `}` (the store
   * places its own hash tags).
   * @default 'sessionkit:'
   */
  prefix?: string;
  /**
   * How long an expired session stays recognisable (get rejects `EXPIRED` rather than
   * resolving `null`): record keys expire at `expiresAt + expiredRetentionMs`.
   * @default 3600000 (1 hour)
   */
  expiredRetentionMs?: number;
  /**
   * Every operation rejects `STORAGE` when Redis has not answered within this many ms;
   * a write that rejected this way never takes effect later.
   * @default 5000
   */
  operationTimeoutMs?: number;
  /**
   * The most sessions one (tenant, user) holds: a create for a user who already holds this
   * many removes, in the same script, that user's sessions that expire soonest (ties:
   * earliest createdAt, then smallest id) until the user holds exactly this many with the
   * new one. An integer from 1 to 1,000,000.
   * @default 1000
   */
  maxSessionsPerUser?: number;
  /**
   * The secret that keys the (tenant, user) hash-slot tags, fixed by the deployment (at
   * least 32 characters, e.g. 32 random bytes in base64url). Every store on a prefix must
   * get the same one. When set, the store neither reads nor writes the secret's key in
   * Redis, so losing that key changes nothing. When not set, the first store makes a
   * random secret and keeps it in Redis (see the README).
   */
  tagSecret?: string;
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<RedisSessionStoreOptions> = {
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  client: true,
  prefix: true,
  expiredRetentionMs: true,
  operationTimeoutMs: true,
  maxSessionsPerUser: true,
  tagSecret: true,
  telemetry: true,
};
