import { SessionError } from '@sessionkit/core';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, SessionManager } from '../src/index.js';
import { base64url, handleOf, newToken } from '../src/token.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (SessionError.hasCode(e, 'INVALID')) return e.field;
    throw e;
  }
  return undefined;
}

describe('SessionManager options', () => {
  const store = new MemorySessionStore();

  it('has the documented defaults', () => {
    const m = new SessionManager({ store });
    expect([m.idleTimeoutMs, m.absoluteTimeoutMs, m.touchAfterMs, m.rotationGraceMs]).toEqual([
      1_800_000, 43_200_000, 60_000, 5_000,
    ]);
    expect(m.stateless).toBe(false);
  });

  it('rejects bad options INVALID naming them', () => {
    expect(fieldOf(() => new SessionManager(null as never))).toBe('options');
    expect(fieldOf(() => new SessionManager({ store: {} as never }))).toBe('store');
    for (const [field, value] of [
      ['idleTimeoutMs', 0],
      ['idleTimeoutMs', 1.5],
      ['absoluteTimeoutMs', -1],
      ['absoluteTimeoutMs', Number.POSITIVE_INFINITY],
      ['touchAfterMs', -1],
      ['touchAfterMs', 1_800_000], // not less than idleTimeoutMs
      ['rotationGraceMs', '5s'],
      ['clock', 5],
    ] as const) {
      expect(
        fieldOf(() => new SessionManager({ store, [field]: value } as never)),
        `${field}=${String(value)}`,
      ).toBe(field);
    }
    expect(new SessionManager({ store, idleTimeoutMs: 1000 }).touchAfterMs).toBe(999);
    // core's invalidOption wording, as every store's
    expect(() => new SessionManager({ store, idleTimeoutMs: 0 })).toThrow(
      '[sessionkit/manager] constructor: option idleTimeoutMs must be an integer from 1 to 315360000000, got 0',
    );
  });

  it('stepUp rejects a non-int32 level and non-string factors INVALID naming them', async () => {
    const m = new SessionManager({ store });
    const { token } = await m.issue({ userId: 'u', tenantId: 't' as never });
    for (const [input, field] of [
      [{ factorsUsed: ['totp'], assuranceLevel: 2 ** 31 }, 'assuranceLevel'],
      [{ factorsUsed: ['totp'], assuranceLevel: 1.5 }, 'assuranceLevel'],
      [{ factorsUsed: [1], assuranceLevel: 2 }, 'factorsUsed'],
      [null, 'input'],
    ] as const) {
      const error = await m.stepUp(token, input as never).catch((e) => e);
      expect(SessionError.hasCode(error, 'INVALID') && error.field).toBe(field);
    }
  });
});

describe('tokens and handles', () => {
  it('tokens are 43 base64url characters (256 bits) and differ', () => {
    const seen = new Set(Array.from({ length: 1000 }, newToken));
    expect(seen.size).toBe(1000);
    for (const t of seen) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('base64url matches the standard encoding, and the handle is SHA-256 of the token', async () => {
    for (const n of [0, 1, 2, 3, 31, 32, 33]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 13) & 255);
      expect(base64url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
    const { createHash } = await import('node:crypto');
    const token = newToken();
    expect(handleOf(token)).toBe(createHash('sha256').update(token).digest('base64url'));
  });

  it('constantTimeEqual compares exactly', () => {
    expect(constantTimeEqual('123456', '123456')).toBe(true);
    expect(constantTimeEqual('123456', '123457')).toBe(false);
    expect(constantTimeEqual('123456', '12345')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('é', 'e')).toBe(false);
  });
});
