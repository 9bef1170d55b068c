/**
 * @module @sessionkit/hono
 */
export { type SessionEnv, type SessionVariables, sessionMiddleware, signIn, signOut, stepUp } from './middleware.js';
export type { SessionCookieOptions, SessionMiddlewareOptions } from './options.js';
