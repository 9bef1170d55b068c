// The constructor's options: their types, defaults and names, and readStoreOptions, which
// checks them (INVALID naming the option) and resolves the defaults.
import {
  durationOption,
  invalidOption,
  type KnownOptions,
  rejectUnknownOptions,
  type SessionStore,
  type TenantId,
  tenantId,
} from '@sessionkit/core';
import { STORE } from './errors.js';

/** The session object as express-session and @fastify/session hand it to a store. */
export type SessionData = Record<string, unknown> & { cookie?: unknown };

/** Options of {@link SessionkitStore}. Only `store` is required. */
export interface SessionkitStoreOptions {
  /**
   * The sessionkit store that holds the sessions: any server-side store (memory, Redis,
   * Redis Cluster, PostgreSQL, memcached). store-jwt cannot back it (its id is the token,
   * so it cannot keep a session under the cookie's id): INVALID at construction.
   */
  store: SessionStore;
  /**
   * A session whose last recorded activity is younger than this is not written back by
   * `touch` (nor by a `set` that changes nothing but the cookie's expiry), so a typical
   * signed-in request costs one read. Its expiry in the backend then lags the cookie's by
   * at most this much. `0` writes every time.
   * @default 60000 (one minute)
   */
  touchAfterMs?: number;
  /**
   * How long a session whose cookie has no expiry (a browser-session cookie, no `maxAge`)
   * lives in the backend after its last write.
   * @default 86400000 (one day)
   */
  defaultTtlMs?: number;
  /**
   * Keep each session under the SHA-256 (base64url) of its session id, so a dump of the
   * backend holds no live cookie value. The hash is the session's handle (see
   * {@link SessionkitStore.handleOf}). `false` stores it under the session id itself.
   * @default true
   */
  hashSessionIds?: boolean;
  /**
   * The user a session belongs to: a non-empty string or a finite number, or
   * `undefined`/`null` for a session with no user yet (it is kept under a user of its own,
   * `anon:<handle>`, so signed-out sessions never share an index).
   * @default (session) => session.userId ?? session.passport?.user
   */
  userOf?: (session: SessionData) => unknown;
  /**
   * The tenant a session belongs to (a string `tenantId()` accepts).
   * @default () => options.tenant
   */
  tenantOf?: (session: SessionData) => unknown;
  /**
   * The tenant of every session when there is no `tenantOf`.
   * @default 'default'
   */
  tenant?: string;
  /**
   * Time in ms since the epoch, for the `touchAfterMs` decision and the expiry of cookies.
   * @default Date.now
   */
  clock?: () => number;
}

/** Default for `touchAfterMs`: one minute. */
export const DEFAULT_TOUCH_AFTER_MS = 60_000;
/** Default for `defaultTtlMs`: one day. */
export const DEFAULT_TTL_MS = 86_400_000;
/** Default for `tenant`. */
export const DEFAULT_TENANT = 'default';
/** The prefix of the user of a session that has no user yet. */
export const ANONYMOUS_PREFIX = 'anon:';

/** The default `userOf`: `session.userId`, else passport's `session.passport.user`. */
export function defaultUserOf(session: SessionData): unknown {
  const passport = session.passport as { user?: unknown } | undefined;
  return session.userId ?? (typeof passport === 'object' && passport !== null ? passport.user : undefined);
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<SessionkitStoreOptions> = {
  store: true,
  touchAfterMs: true,
  defaultTtlMs: true,
  hashSessionIds: true,
  userOf: true,
  tenantOf: true,
  tenant: true,
  clock: true,
};

/** The methods of the sessionkit store that this store calls. */
const STORE_METHODS = ['create', 'get', 'update', 'delete', 'deleteByUser', 'extend', 'listByUser'] as const;

/** The options as {@link readStoreOptions} resolves them: checked, defaults filled in. */
export interface StoreSettings {
  store: SessionStore;
  touchAfterMs: number;
  defaultTtlMs: number;
  hashSessionIds: boolean;
  userOf: (session: SessionData) => unknown;
  tenantOf: ((session: SessionData) => unknown) | undefined;
  tenant: TenantId;
  clock: () => number;
}

/** Checks the constructor's options (INVALID naming the first bad one) and fills in the defaults. */
export function readStoreOptions(options: SessionkitStoreOptions): StoreSettings {
  if (typeof options !== 'object' || options === null) throw invalidOption(STORE, 'options', 'must be an object');
  rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
  const store = options.store as SessionStore | undefined;
  if (typeof store !== 'object' || store === null || typeof store.capabilities !== 'object') {
    throw invalidOption(STORE, 'store', 'must be a sessionkit SessionStore (for example a RedisSessionStore)');
  }
  for (const method of STORE_METHODS) {
    if (typeof store[method] !== 'function') throw invalidOption(STORE, 'store', `has no ${method}() method`);
  }
  if (store.capabilities.customIds === false || store.capabilities.mutate === false) {
    throw invalidOption(
      STORE,
      'store',
      'cannot keep express-session sessions: it does not take caller-chosen ids or update sessions ' +
        '(store-jwt is stateless: its id is the signed token). Use a server-side store: memory, Redis, PostgreSQL or memcached',
    );
  }
  const touchAfterMs = durationOption(STORE, 'touchAfterMs', options.touchAfterMs, DEFAULT_TOUCH_AFTER_MS, {
    min: 0,
    max: 2 ** 31 - 1,
  });
  const defaultTtlMs = durationOption(STORE, 'defaultTtlMs', options.defaultTtlMs, DEFAULT_TTL_MS);
  if (options.hashSessionIds !== undefined && typeof options.hashSessionIds !== 'boolean') {
    throw invalidOption(STORE, 'hashSessionIds', 'must be a boolean');
  }
  for (const fn of ['userOf', 'tenantOf', 'clock'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') {
      throw invalidOption(STORE, fn, 'must be a function');
    }
  }
  let tenant: TenantId;
  try {
    tenant = tenantId(options.tenant ?? DEFAULT_TENANT);
  } catch (error) {
    throw invalidOption(STORE, 'tenant', `is not a valid tenant id: ${(error as Error).message}`);
  }
  return {
    store,
    touchAfterMs,
    defaultTtlMs,
    hashSessionIds: options.hashSessionIds ?? true,
    userOf: options.userOf ?? defaultUserOf,
    tenantOf: options.tenantOf,
    tenant,
    clock: options.clock ?? Date.now,
  };
}
