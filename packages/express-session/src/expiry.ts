// When a session expires, and when a write of its expiry can be skipped: the rules that
// `set` and `touch` share (pure functions of the session, the clock and the options).
import type { SessionData } from './options.js';
import type { RecentRead } from './recent-reads.js';

/** When the session should expire: its cookie's expiry, or `defaultTtlMs` from now for a browser-session cookie. */
export function expiryOf(session: SessionData, now: number, defaultTtlMs: number): number {
  const cookie = session.cookie as { expires?: unknown } | undefined;
  const expires = cookie?.expires;
  if (expires instanceof Date || typeof expires === 'string' || typeof expires === 'number') {
    const ms = new Date(expires).getTime();
    if (!Number.isNaN(ms)) return ms;
  }
  return now + defaultTtlMs;
}

/**
 * Whether a write can be skipped: the session was active within `touchAfterMs`, and its
 * stored expiry is still more than half the cookie's remaining life away (so a cookie
 * shorter than `touchAfterMs` never outlives its record while the user is active).
 */
export function fresh(seen: RecentRead, now: number, cookieExpiresMs: number, touchAfterMs: number): boolean {
  return now - seen.lastActivityMs < touchAfterMs && seen.expiresMs - now > (cookieExpiresMs - now) / 2;
}
