/**
 * The options of the store: their type, the names the constructor takes, and
 * `readOptions`, which checks them all once and resolves the store's settings.
 */
import {
  type BaseStoreOptions,
  hasControlCharacters,
  invalidOption,
  type KnownOptions,
  type OperationDeadlines,
  type RecordRules,
  readCommonOptions,
} from '@sessionkit/core';
import type { Cluster, Redis } from 'ioredis';
import { KeyLayout } from './keys.js';

export const STORE = 'redis';
/** The prefix every key starts with when the prefix option is not set. */
const DEFAULT_PREFIX = 'sessionkit:';
const MAX_PREFIX_LENGTH = 256;
/** The shortest tag secret, as an option or read from Redis. */
export const MIN_TAG_SECRET_LENGTH = 32;
const MAX_TAG_SECRET_LENGTH = 1024;

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

/** An ioredis client: a single Redis or a Cluster. */
export type Client = Redis | Cluster;

/** What the constructor resolves from its options. */
export interface RedisSettings {
  readonly client: Client;
  readonly cluster: boolean;
  readonly keys: KeyLayout;
  /** The tagSecret option; `undefined` when the secret is kept in Redis. */
  readonly tagSecret: string | undefined;
  readonly rules: RecordRules;
  readonly operationTimeoutMs: number;
  readonly deadlines: OperationDeadlines;
  readonly expiredRetentionMs: number;
  readonly maxSessionsPerUser: number;
}

/** Checks every option once; throws `INVALID` naming the first bad one. */
export function readOptions(options: RedisSessionStoreOptions): RedisSettings {
  const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, {
    server: true,
    backendExpires: true,
    perUser: true,
  });
  const { client, tagSecret } = common.options as Record<string, unknown>;
  const prefix = common.options.prefix ?? DEFAULT_PREFIX; // null too, as before
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as Redis).evalsha !== 'function' ||
    typeof (client as Redis).status !== 'string'
  ) {
    throw invalidOption(STORE, 'client', 'must be an ioredis Redis or Cluster instance');
  }
  if (
    typeof prefix !== 'string' ||
    /[{}]/.test(prefix) ||
    hasControlCharacters(prefix) ||
    prefix.length > MAX_PREFIX_LENGTH
  ) {
    throw invalidOption(
      STORE,
      'prefix',
      `must be a string of at most ${MAX_PREFIX_LENGTH} characters without \`{\`, \`}\` or control characters`,
    );
  }
  if (
    tagSecret !== undefined &&
    (typeof tagSecret !== 'string' ||
      tagSecret.length < MIN_TAG_SECRET_LENGTH ||
      tagSecret.length > MAX_TAG_SECRET_LENGTH ||
      hasControlCharacters(tagSecret))
  ) {
    throw invalidOption(
      STORE,
      'tagSecret',
      `must be a string of ${MIN_TAG_SECRET_LENGTH} to ${MAX_TAG_SECRET_LENGTH} characters without control characters`,
    );
  }
  return {
    client: client as Client,
    cluster: (client as Redis).isCluster === true,
    keys: new KeyLayout(prefix),
    tagSecret,
    rules: common.rules,
    operationTimeoutMs: common.operationTimeoutMs,
    deadlines: common.deadlines,
    expiredRetentionMs: common.expiredRetentionMs,
    maxSessionsPerUser: common.maxSessionsPerUser,
  };
}
