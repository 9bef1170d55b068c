// Hashes: the handle of a session id, and the digest that tells a set which changed
// nothing but the cookie's expiry (so it can be skipped like a touch).
import * as crypto from 'node:crypto';
import type { JsonValue } from '@sessionkit/core';

// crypto.hash (Node >= 20.12) hashes in one call, about 3x cheaper than a Hash object for
// a short string (it runs twice per page view); createHash where a runtime lacks it.
const hasOneShot = typeof crypto.hash === 'function';

/** SHA-256 of the string's UTF-8 bytes, base64url (43 characters). */
export function sha256(value: string): string {
  return hasOneShot
    ? crypto.hash('sha256', value, 'base64url')
    : crypto.createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** JSON with object keys sorted, so that a backend that reorders keys changes no digest. */
export function canonical(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as JsonValue)}`).join(',')}}`;
}

/**
 * A digest of the session's data, leaving out the cookie's expiry, which moves on every
 * request (`expires`; @fastify/session also keeps the previous one as `originalExpires`),
 * and with the cookie's `originalMaxAge` to the nearest second: express-session
 * recomputes it from the clock each time it resets the cookie's expiry, so it drifts by a
 * millisecond whenever the clock ticks in between (a busy server), which is no change
 * worth a write. A change of the cookie's lifetime by half a second or more still changes
 * the digest; a drifted value that a real write stored can, after some 500 such writes,
 * cross a half-second boundary and cost one more write.
 */
export function digestOf(metadata: JsonValue): string {
  let value = metadata;
  if (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata)) {
    const cookie = metadata.cookie;
    if (cookie !== null && typeof cookie === 'object' && !Array.isArray(cookie)) {
      const { expires: _expires, originalExpires: _original, ...rest } = cookie;
      if (typeof rest.originalMaxAge === 'number') rest.originalMaxAge = Math.round(rest.originalMaxAge / 1000);
      value = { ...metadata, cookie: rest };
    }
  }
  return sha256(canonical(value));
}

/** Whether `value` has the shape of {@link digestOf}'s output (a record written before digests were stored has `''`). */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && value.length === 43 && DIGEST.test(value);
}
const DIGEST = /^[A-Za-z0-9_-]{43}$/;
