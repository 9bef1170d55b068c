// Key layout and expiry conversion.
import { createHash } from 'node:crypto';

/** Ids, users and tenants made only of these (up to 64 of them) appear in keys as they are. */
const PLAIN = /^[A-Za-z0-9_-]{1,64}$/;
/** What a prefix may hold: printable ASCII without space (memcached keys forbid whitespace and control characters). */
export const PREFIX_PATTERN = /^[\x21-\x7e]{0,100}$/;
/** The longest key memcached accepts. */
export const MAX_KEY_BYTES = 250;

/**
 * One identifier as a key part: itself when it is short base64url-alphabet text
 * (generated ids are), otherwise `~` + base64url(SHA-256(UTF-8)). `~` is outside the
 * plain alphabet, so the two forms never meet, and neither contains `:`, so joined
 * parts cannot collide. At most 64 characters, printable ASCII.
 */
export function keyPart(value: string): string {
  if (PLAIN.test(value)) return value;
  return `~${createHash('sha256').update(value, 'utf8').digest('base64url')}`;
}

/** `<prefix>s:<id>`: one session record. */
export function sessionKey(prefix: string, id: string): string {
  return `${prefix}s:${keyPart(id)}`;
}

/** `<prefix>u:<tenant>:<user>`: the index of one (tenant, user). */
export function indexKey(prefix: string, tenantId: string, userId: string): string {
  return `${prefix}u:${keyPart(tenantId)}:${keyPart(userId)}`;
}

/**
 * `<prefix>r:<tenant>:<user>`: when that (tenant, user) was last revoked by deleteByUser
 * (ms on the store's clock). Records created in an earlier second read as gone.
 */
export function revokedKey(prefix: string, tenantId: string, userId: string): string {
  return `${prefix}r:${keyPart(tenantId)}:${keyPart(userId)}`;
}

/** memcached reads an expiration over 30 days as an absolute Unix time. */
export const MAX_RELATIVE_SECONDS = 60 * 60 * 24 * 30;
/** The binary protocol's expiration is an unsigned 32-bit field (memcached 1.6 reads it so): February 2106. */
export const MAX_ABSOLUTE_SECONDS = 2 ** 32 - 1;

/**
 * The expiration field for an item that should live until `untilMs` on the store's
 * clock, now being `nowMs` on that clock. Up to 30 days it is relative seconds (never 0,
 * which would mean "never expires"); beyond, it is an absolute Unix time computed from
 * the real time (the server's clock), capped at 2^32 - 1 (February 2106).
 */
export function expirationField(untilMs: number, nowMs: number, realNowMs: number = Date.now()): number {
  const seconds = Math.max(1, Math.ceil((untilMs - nowMs) / 1000));
  if (seconds <= MAX_RELATIVE_SECONDS) return seconds;
  return Math.min(Math.floor(realNowMs / 1000) + seconds, MAX_ABSOLUTE_SECONDS);
}
