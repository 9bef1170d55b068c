import type { KnownOptions, SessionStore } from '@sessionkit/core';

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
