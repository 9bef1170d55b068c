import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkDuration,
  checkRecord,
  cloneRecord,
  decodeRecord,
  encodeRecord,
  generateSessionId,
  readClock,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  tenantId,
  toStorageError,
  withTimeout,
} from '../src/index.js';
import { jsonStringBytes } from '../src/json.js';
import { record, rules } from './fixtures.js';

describe('jsonStringBytes', () => {
  it('equals the UTF-8 length of JSON.stringify for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(jsonStringBytes(s)).toBe(Buffer.byteLength(JSON.stringify(s), 'utf8'));
      }),
      { numRuns: 2000 },
    );
  });
  it('handles escapes, controls, DEL and lone surrogates', () => {
    for (const s of ['"', '\\', '\n', '\u0001', '\u007f', '\ud800', '\udc00x', '😀', 'é', '\u2028']) {
      expect(jsonStringBytes(s), JSON.stringify(s)).toBe(Buffer.byteLength(JSON.stringify(s), 'utf8'));
    }
  });
});

describe('encodeRecord / decodeRecord', () => {
  const arbitraryRecord = fc
    .record({
      id: fc.string({ unit: 'binary', maxLength: 50 }),
      userId: fc.string({ minLength: 1 }),
      transactionId: fc.string(),
      factorsUsed: fc.array(fc.string({ unit: 'binary' })),
      assuranceLevel: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      metadata: fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v))),
      createdAt: fc.integer({ min: 0, max: 4e12 }),
      life: fc.integer({ min: 1, max: 1e11 }),
    })
    .map(
      (f): SessionRecord => ({
        ...record(),
        id: f.id,
        userId: f.userId,
        transactionId: f.transactionId,
        factorsUsed: f.factorsUsed,
        assuranceLevel: f.assuranceLevel,
        metadata: f.metadata,
        createdAt: new Date(f.createdAt),
        expiresAt: new Date(f.createdAt + f.life),
        lastActivityAt: new Date(f.createdAt),
      }),
    );

  it('round-trips any record exactly', () => {
    fc.assert(
      fc.property(arbitraryRecord, (r) => {
        expect(decodeRecord(encodeRecord(r))).toStrictEqual(r);
      }),
      { numRuns: 500 },
    );
  });

  it('checkRecord measures exactly the UTF-8 bytes of encodeRecord', () => {
    fc.assert(
      fc.property(arbitraryRecord, (r) => {
        const valid = {
          ...r,
          id: 'sid',
          userId: 'user',
          expiresAt: new Date(1_800_000_000_000),
          createdAt: new Date(1_600_000_000_000),
        };
        const factors = valid.factorsUsed.filter(
          (f) => f.length <= 256 && !/[\u0000-\u001f\u007f-\u009f]/.test(f) && !/[\ud800-\udfff]/.test(f),
        );
        const input = { ...valid, factorsUsed: factors, transactionId: '' };
        const big = resolveRecordRules('test', { clock: () => 1_700_000_000_000, maxRecordBytes: 10_000_000 });
        const { bytes, record: checked } = checkRecord(big, input, { operation: 'create' });
        expect(bytes).toBe(Buffer.byteLength(encodeRecord(checked), 'utf8'));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps __proto__ keys as data, never as prototypes', () => {
    const metadata = JSON.parse('{"__proto__":{"admin":true},"a":1}');
    const decoded = decodeRecord(encodeRecord(record({ metadata })));
    expect(Object.getPrototypeOf(decoded.metadata)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const cloned = cloneRecord(decoded);
    expect(Object.getPrototypeOf(cloned.metadata)).toBe(Object.prototype);
    expect(Object.keys(cloned.metadata as object)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(cloned.metadata)).toBe('{"__proto__":{"admin":true},"a":1}');
  });

  it('rejects corrupt data with STORAGE naming the store', () => {
    for (const text of ['', 'nope', '{"v":2}', '{"v":1,"id":1}', 'null', '[]']) {
      try {
        decodeRecord(text, 'redis');
        expect.unreachable();
      } catch (error) {
        expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
        expect((error as Error).message).toMatch(/^\[sessionkit\/redis\] decode: /);
      }
    }
  });
});

describe('checkRecord', () => {
  it('returns a copy with expiresAt capped by maxLifetimeMs', () => {
    const capped = resolveRecordRules('test', { clock: () => 1_700_000_000_000, maxLifetimeMs: 1000 });
    const input = record();
    const { record: out } = checkRecord(capped, input, { operation: 'create' });
    expect(out.expiresAt.getTime()).toBe(1_700_000_001_000);
    expect(input.expiresAt.getTime()).toBe(1_700_000_100_000);
    expect(out.createdAt).not.toBe(input.createdAt);
  });

  it('names the field and the store in INVALID messages', () => {
    try {
      checkRecord(rules, record({ assuranceLevel: 0.5 }), { operation: 'update' });
      expect.unreachable();
    } catch (error) {
      expect(SessionError.hasCode(error, 'INVALID')).toBe(true);
      expect((error as SessionError).field).toBe('record.assuranceLevel');
      expect((error as Error).message).toBe(
        '[sessionkit/test] update: record.assuranceLevel must be an int32 integer, got 0.5',
      );
    }
  });

  it('reports values that cannot be turned into strings as INVALID, never a TypeError', () => {
    const bare = Object.create(null);
    const cases: [() => unknown, string][] = [
      [
        () => checkRecord(rules, record({ assuranceLevel: [{ toString: 0 }] as never }), { operation: 'create' }),
        'record.assuranceLevel must be an int32 integer, got an array',
      ],
      [
        () => checkRecord(rules, record({ assuranceLevel: bare }), { operation: 'create' }),
        'record.assuranceLevel must be an int32 integer, got object',
      ],
      [() => checkDuration(rules, bare), 'durationMs must be a positive integer of milliseconds, got object'],
      [
        () => resolveRecordRules('test', { maxRecordBytes: bare }),
        'option maxRecordBytes must be an integer from 256 to 9007199254740991, got object',
      ],
      [
        () => readClock(resolveRecordRules('test', { clock: () => bare })),
        'clock() returned object; it must return ms since the epoch',
      ],
    ];
    for (const [f, message] of cases) {
      try {
        f();
        expect.unreachable();
      } catch (error) {
        expect(SessionError.hasCode(error, 'INVALID'), String((error as Error).message)).toBe(true);
        expect((error as Error).message).toContain(message);
      }
    }
    const wrapped = toStorageError(bare, 'test', 'get');
    expect(wrapped.code).toBe('STORAGE');
    expect(wrapped.cause).toBe(bare);
  });

  it('names the path inside metadata', () => {
    expect(() =>
      checkRecord(rules, record({ metadata: { a: [1, { b: Number.NaN }] } }), { operation: 'create' }),
    ).toThrow(/record\.metadata\.a\[1\]\.b is NaN/);
    expect(() => checkRecord(rules, record({ metadata: [, 1] as never }), { operation: 'create' })).toThrow(/sparse/);
  });

  it('rejects lone surrogates in identifiers but keeps them in metadata', () => {
    expect(() => checkRecord(rules, record({ userId: 'a\ud800' }), { operation: 'create' })).toThrow(/well-formed/);
    expect(() => tenantId('\udc00')).toThrow(/well-formed/);
    expect(checkRecord(rules, record({ metadata: 'a\ud800' }), { operation: 'create' }).record.metadata).toBe(
      'a\ud800',
    );
  });
});

describe('resolveRecordRules', () => {
  it('rejects bad options with INVALID naming the option', () => {
    for (const [options, name] of [
      [{ clock: 5 }, 'clock'],
      [{ maxLifetimeMs: -1 }, 'maxLifetimeMs'],
      [{ maxLifetimeMs: 1.5 }, 'maxLifetimeMs'],
      [{ maxRecordBytes: 10 }, 'maxRecordBytes'],
      [{ maxRecordBytes: '1' }, 'maxRecordBytes'],
    ] as const) {
      expect(() => resolveRecordRules('x', options as never)).toThrow(
        new RegExp(`^\\[sessionkit/x\\] constructor: option ${name}`),
      );
    }
  });
});

describe('SessionError', () => {
  it('is recognised across two copies of core (ESM and CJS builds)', () => {
    const require = createRequire(import.meta.url);
    const cjs = require('../dist/index.cjs') as typeof import('../src/index.js');
    expect(cjs.SessionError).not.toBe(SessionError);
    const foreign = new cjs.SessionError('STORAGE', 'boom', { store: 'redis', cause: new Error('x') });
    expect(foreign instanceof SessionError).toBe(false);
    expect(SessionError.isInstance(foreign)).toBe(true);
    expect(cjs.SessionError.isInstance(new SessionError('INVALID', 'x'))).toBe(true);
    expect(SessionError.isInstance(new Error('x'))).toBe(false);
    expect(SessionError.isInstance({ code: 'INVALID' })).toBe(false);
  });

  it('rejects unknown codes', () => {
    expect(() => new SessionError('NOPE' as never, 'x')).toThrow(TypeError);
  });
});

describe('generateSessionId', () => {
  it('gives 43 base64url characters (256 bits), all distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = generateSessionId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
  });
});

describe('withTimeout', () => {
  it('rejects STORAGE after the deadline, with a cause', async () => {
    const error = (await withTimeout(new Promise(() => {}), 20, 'redis', 'get').catch(
      (e: unknown) => e,
    )) as SessionError;
    expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
    expect(error.message).toMatch(/\[sessionkit\/redis\] get: .*operationTimeoutMs \(20 ms\)/);
    expect(error.cause).toBeInstanceOf(Error);
  });
  it('wraps backend errors and passes SessionErrors through', async () => {
    const wrapped = await withTimeout(Promise.reject(new Error('ECONNREFUSED')), 1000, 'pg', 'get').catch((e) => e);
    expect(wrapped.code).toBe('STORAGE');
    expect(wrapped.cause.message).toBe('ECONNREFUSED');
    const own = new SessionError('NOT_FOUND', 'x');
    expect(await withTimeout(Promise.reject(own), 1000, 'pg', 'get').catch((e) => e)).toBe(own);
    expect(await withTimeout(Promise.resolve(7), 1000, 'pg', 'get')).toBe(7);
  });
});
