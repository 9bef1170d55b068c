import { invalidInput, type KnownOptions, rejectUnknownOptions, type SessionError } from '@sessionkit/core';
import type { SessionManager } from '@sessionkit/manager';

/** The session cookie. Every attribute can be overridden. */
export interface SessionCookieOptions {
  /** Base name; `__Host-` is put in front when `hostPrefix` holds. @default 'session' */
  name?: string;
  /** @default true */
  httpOnly?: boolean;
  /** Send only over HTTPS. Browsers treat http://localhost as secure too. @default true */
  secure?: boolean;
  /** @default 'Lax' */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** @default '/' */
  path?: string;
  /** @default none (host-only cookie) */
  domain?: string;
  /**
   * Name the cookie `__Host-<name>`: the browser then accepts it only Secure, host-only and
   * with Path=/ (no subdomain or plain-HTTP page can plant or shadow it).
   * @default secure && !domain && path === '/'
   */
  hostPrefix?: boolean;
  /**
   * Max-Age in seconds; `null` makes a browser-session cookie (gone when the browser closes).
   * @default the manager's absoluteTimeoutMs, in seconds
   */
  maxAge?: number | null;
}

export interface SessionMiddlewareOptions {
  /** The SessionManager that issues and validates the tokens. */
  manager: SessionManager;
  cookie?: SessionCookieOptions;
}

export interface ResolvedCookie {
  /** The full cookie name, prefix included. */
  name: string;
  httpOnly: boolean;
  secure: boolean;
  sameSite: 'Strict' | 'Lax' | 'None';
  path: string;
  domain: string | undefined;
  maxAge: number | undefined;
}

const KNOWN_OPTIONS: KnownOptions<SessionMiddlewareOptions> = { manager: true, cookie: true };
const KNOWN_COOKIE_OPTIONS: KnownOptions<SessionCookieOptions> = {
  name: true,
  httpOnly: true,
  secure: true,
  sameSite: true,
  path: true,
  domain: true,
  hostPrefix: true,
  maxAge: true,
};

function invalid(field: string, message: string): SessionError {
  return invalidInput('hono', 'sessionMiddleware', field, message);
}

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

export function resolveCookie(options: SessionMiddlewareOptions): ResolvedCookie {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object');
  rejectUnknownOptions('hono', options, KNOWN_OPTIONS, '', 'sessionMiddleware');
  const manager = options.manager;
  if (typeof manager !== 'object' || manager === null || typeof manager.validate !== 'function') {
    throw invalid('manager', 'must be a SessionManager');
  }
  const c = options.cookie ?? {};
  if (typeof c !== 'object' || c === null) throw invalid('cookie', 'must be an object');
  rejectUnknownOptions('hono', c, KNOWN_COOKIE_OPTIONS, 'cookie.', 'sessionMiddleware');
  const base = c.name ?? 'session';
  if (typeof base !== 'string' || !COOKIE_NAME.test(base))
    throw invalid('cookie.name', 'must be a cookie token (RFC 6265)');
  const secure = c.secure ?? true;
  const path = c.path ?? '/';
  const domain = c.domain;
  const sameSite = c.sameSite ?? 'Lax';
  if (!['Strict', 'Lax', 'None'].includes(sameSite))
    throw invalid('cookie.sameSite', "must be 'Strict', 'Lax' or 'None'");
  if (sameSite === 'None' && !secure)
    throw invalid('cookie.sameSite', "'None' needs secure: true (browsers drop it otherwise)");
  const hostPrefix = c.hostPrefix ?? (secure && domain === undefined && path === '/');
  if (hostPrefix && (!secure || domain !== undefined || path !== '/')) {
    throw invalid('cookie.hostPrefix', 'needs secure: true, no domain and path "/"');
  }
  let maxAge: number | undefined;
  if (c.maxAge === undefined) maxAge = Math.floor(manager.absoluteTimeoutMs / 1000);
  else if (c.maxAge === null) maxAge = undefined;
  else if (!Number.isInteger(c.maxAge) || c.maxAge < 1 || c.maxAge > 400 * 86_400) {
    throw invalid('cookie.maxAge', 'must be an integer number of seconds from 1 to 34560000 (400 days), or null');
  } else maxAge = c.maxAge;
  return {
    name: hostPrefix ? `__Host-${base}` : base,
    httpOnly: c.httpOnly ?? true,
    secure,
    sameSite,
    path,
    domain,
    maxAge,
  };
}
