import type { Issued, IssueInput, Session, SessionManager, StepUpInput } from '@sessionkit/manager';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { type ResolvedCookie, resolveCookie, type SessionMiddlewareOptions } from './options.js';

interface SessionState {
  manager: SessionManager;
  cookie: ResolvedCookie;
  token: string | undefined;
}

/** The variables the middleware sets: `c.get('session')` is the validated session or null. */
export type SessionVariables = {
  session: Session | null;
  sessionkit: SessionState;
};

/** Hono `Env` for apps (or sub-apps) behind {@link sessionMiddleware}. */
export type SessionEnv = { Variables: SessionVariables };

/**
 * Reads the session cookie, validates it with the manager and puts the session (or null)
 * on `c.get('session')`. A cookie that no longer validates is cleared. A backend failure
 * is thrown (the request fails, 500 by default): never treated as "signed out" or "signed in".
 */
export function sessionMiddleware(options: SessionMiddlewareOptions): MiddlewareHandler<SessionEnv> {
  const cookie = resolveCookie(options);
  const manager = options.manager;
  return async (c, next) => {
    const token = getCookie(c, cookie.name);
    const session = token === undefined ? null : await manager.validate(token);
    c.set('sessionkit', { manager, cookie, token: session === null ? undefined : token });
    c.set('session', session);
    if (token !== undefined && session === null) clear(c, cookie);
    await next();
  };
}

function state(c: Context): SessionState {
  const s = c.get('sessionkit') as SessionState | undefined;
  if (s === undefined)
    throw new Error('[sessionkit/hono] sessionMiddleware() must run before signIn, signOut and stepUp');
  return s;
}

function write(c: Context, cookie: ResolvedCookie, token: string): void {
  setCookie(c, cookie.name, token, {
    httpOnly: cookie.httpOnly,
    secure: cookie.secure,
    sameSite: cookie.sameSite,
    path: cookie.path,
    ...(cookie.domain === undefined ? {} : { domain: cookie.domain }),
    ...(cookie.maxAge === undefined ? {} : { maxAge: cookie.maxAge }),
  });
}

function clear(c: Context, cookie: ResolvedCookie): void {
  deleteCookie(c, cookie.name, {
    httpOnly: cookie.httpOnly,
    secure: cookie.secure,
    sameSite: cookie.sameSite,
    path: cookie.path,
    ...(cookie.domain === undefined ? {} : { domain: cookie.domain }),
  });
}

/**
 * Signs the user in: a new session and token (the request's old session, if any, is
 * signed out: no session fixation), the cookie set, and `c.get('session')` updated.
 */
export async function signIn(c: Context, input: IssueInput): Promise<Session> {
  const s = state(c);
  if (s.token !== undefined) await s.manager.signOut(s.token);
  const issued = await s.manager.issue(input);
  write(c, s.cookie, issued.token);
  s.token = issued.token;
  c.set('session', issued.session);
  return issued.session;
}

/** Signs out the request's session (revoked in the store) and clears the cookie. */
export async function signOut(c: Context): Promise<void> {
  const s = state(c);
  if (s.token !== undefined) await s.manager.signOut(s.token);
  s.token = undefined;
  clear(c, s.cookie);
  c.set('session', null);
}

/**
 * Step-up: rotates the session to a new token at the raised level and sets the cookie.
 * Resolves null (cookie untouched) when the request has no session that can step up.
 */
export async function stepUp(c: Context, input: StepUpInput): Promise<Session | null> {
  const s = state(c);
  if (s.token === undefined) return null;
  const up: Issued | null = await s.manager.stepUp(s.token, input);
  if (up === null) return null;
  write(c, s.cookie, up.token);
  s.token = up.token;
  c.set('session', up.session);
  return up.session;
}
