import { createHmac, type KeyObject, sign } from 'node:crypto';
import { type SessionRecord, tenantId } from '@sessionkit/core';

export const HOUR = 60 * 60 * 1000;

/** A clock that only moves when the test says so. */
export class TestClock {
  t = Date.now();
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

let n = 0;
export function record(clock: TestClock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = clock.now();
  n++;
  return {
    id: '',
    userId: `user-${n}`,
    tenantId: tenantId(`tenant-${n}`),
    transactionId: `tx-${n}`,
    factorsUsed: ['password', 'totp'],
    assuranceLevel: 2,
    metadata: { secretNote: `classified-${n}`, roles: ['admin'] },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
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

/** A compact JWS signed by hand with an asymmetric key (ES256: P-1363 signature). */
export function asymmetricToken(header: unknown, payload: unknown, key: KeyObject, alg: 'ES256' | 'EdDSA'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
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
