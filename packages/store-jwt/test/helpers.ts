import { createHmac, type KeyObject, sign } from 'node:crypto';
import type { SessionRecord } from '@sessionkit/core';
import { HOUR, makeRecord, TestClock } from '@sessionkit/core/testing';

export { HOUR, TestClock };

/**
 * Core's record builder with metadata whose text the token tests look for (`classified`):
 * an encrypted token must not show it.
 */
export function record(clock: TestClock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return makeRecord(clock, { metadata: { secretNote: 'classified-note', roles: ['admin'] }, ...overrides });
}

export function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

export function fromB64(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

/** A compact JWS signed by hand with HMAC (hash: sha256 for HS256). */
export function hmacToken(
  header: unknown,
  payload: unknown,
  key: string | Buffer | KeyObject,
  hash = 'sha256',
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

/**
 * A compact JWS signed by hand with an asymmetric key (ES256: P-1363 signature, made
 * low-s as the store requires).
 */
export function asymmetricToken(header: unknown, payload: unknown, key: KeyObject, alg: 'ES256' | 'EdDSA'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), key);
  const token = `${input}.${sig.toString('base64url')}`;
  return alg === 'ES256' ? ecdsaTwin(token, 'low') : token;
}

/** The order n of the P-256 group. */
export const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** The s of an ES256 compact JWS (P-1363 r || s). */
export function ecdsaS(jws: string): bigint {
  const signature = Buffer.from(jws.slice(jws.lastIndexOf('.') + 1), 'base64url');
  return BigInt(`0x${signature.subarray(32).toString('hex')}`);
}

/**
 * The same ES256 JWS with s replaced by n - s where needed so that s is 'low' (<= n/2)
 * or 'high' (> n/2): (r, s) and (r, n - s) both verify, two spellings of one token.
 */
export function ecdsaTwin(jws: string, want: 'low' | 'high'): string {
  const dot = jws.lastIndexOf('.');
  const signature = Buffer.from(jws.slice(dot + 1), 'base64url');
  const s = ecdsaS(jws);
  const isHigh = s > P256_N / 2n;
  if (isHigh === (want === 'high')) return jws;
  Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex').copy(signature, 32);
  return `${jws.slice(0, dot + 1)}${signature.toString('base64url')}`;
}

/** The header and payload of a compact JWS. */
export function parts(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signature: string;
} {
  const [h, p, s] = token.split('.');
  return {
    header: fromB64(h as string) as Record<string, unknown>,
    payload: fromB64(p as string) as Record<string, unknown>,
    signature: s as string,
  };
}
