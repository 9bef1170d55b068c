import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRecord, encodeRecord, MAX_JSON_DEPTH, resolveRecordRules, SessionError } from '../src/index.js';
import { checkJson, measureJson } from '../src/json.js';
import { NOW, record, rules } from './fixtures.js';

const OUTPUTS = ['shared', 'copy', 'encoded'] as const;

/**
 * The rule as it was first written (a path string built for every node): the walks
 * build paths only on failure and must report exactly what this reports.
 */
function referenceProblem(value: unknown, root: string): string | undefined {
  const ancestors: object[] = [];
  const describe = (v: unknown) =>
    v === null ? 'null' : Array.isArray(v) ? 'an array' : v instanceof Date ? 'a Date' : typeof v;
  const walk = (v: unknown, at: string, depth: number): string | undefined => {
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) return undefined;
    if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${at} is ${String(v)}`;
    if (typeof v !== 'object') return `${at} is ${describe(v)}`;
    if (depth >= MAX_JSON_DEPTH) return `${at} nests deeper than ${MAX_JSON_DEPTH} levels`;
    if (ancestors.includes(v)) return `${at} is a circular reference`;
    ancestors.push(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) return `${at}[${i}] is a hole in a sparse array`;
        const p = walk(v[i], `${at}[${i}]`, depth + 1);
        if (p) return p;
      }
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
        return `${at} is ${typeof name === 'string' && name ? `a ${name} instance` : 'not a plain object'}`;
      }
      for (const key of Object.keys(v)) {
        const p = walk((v as Record<string, unknown>)[key], `${at}.${key}`, depth + 1);
        if (p) return p;
      }
    }
    ancestors.pop();
    return undefined;
  };
  return walk(value, root, 0);
}

function thrown(f: () => unknown): SessionError | undefined {
  try {
    f();
    return undefined;
  } catch (error) {
    if (!SessionError.isInstance(error)) throw error;
    return error;
  }
}

function nest(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

class Point {
  x = 1;
}

const sparse = [1, 2];
sparse[4] = 5;
const cyclic: Record<string, unknown> = { a: [{ b: 1 }] };
((cyclic.a as unknown[])[0] as Record<string, unknown>).back = cyclic;

/** Bad metadata deep inside objects and arrays, with the exact message each must give. */
const BAD: [unknown, string][] = [
  [{ a: [1, { b: Number.NaN }] }, 'record.metadata.a[1].b is NaN'],
  [
    {
      cart: [
        { sku: 'x', price: 1 },
        { sku: 'y', price: Infinity },
      ],
    },
    'record.metadata.cart[1].price is Infinity',
  ],
  [[0, [1, [2, -Infinity]]], 'record.metadata[1][1][1] is -Infinity'],
  [{ a: { b: { c: undefined } } }, 'record.metadata.a.b.c is undefined'],
  [{ 'we.ird key': [() => 1] }, 'record.metadata.we.ird key[0] is function'],
  [{ a: [Symbol('s')] }, 'record.metadata.a[0] is symbol'],
  [{ n: 10n }, 'record.metadata.n is bigint'],
  [{ a: [{}, { when: new Date(0) }] }, 'record.metadata.a[1].when is a Date instance'],
  [{ m: new Map() }, 'record.metadata.m is a Map instance'],
  [{ p: new Point() }, 'record.metadata.p is a Point instance'],
  [{ a: { list: sparse } }, 'record.metadata.a.list[2] is a hole in a sparse array'],
  [cyclic, 'record.metadata.a[0].back is a circular reference'],
  [nest(MAX_JSON_DEPTH + 1, 1), `record.metadata${'.k[0]'.repeat(32)} nests deeper than ${MAX_JSON_DEPTH} levels`],
  [undefined, 'record.metadata is undefined'],
  [Number.NaN, 'record.metadata is NaN'],
  [
    { ok: [1, 'two', null, true, { x: 1 }], bad: [null, { deep: [[[undefined]]] }] },
    'record.metadata.bad[1].deep[0][0][0] is undefined',
  ],
];

describe('metadata walks: paths are built only on failure, and still right', () => {
  it('reports the exact path and message of bad metadata deep in objects and arrays, in every output mode', () => {
    for (const [metadata, expected] of BAD) {
      expect(referenceProblem(metadata, 'record.metadata')).toBe(expected);
      for (const output of OUTPUTS) {
        const error = thrown(() =>
          checkRecord(rules, record({ metadata: metadata as never }), { operation: 'create', output }),
        );
        expect(error?.code, `${output}: ${expected}`).toBe('INVALID');
        expect(error?.field).toBe('record.metadata');
        expect(error?.message).toBe(`[sessionkit/test] create: ${expected}; metadata must be plain JSON`);
      }
      expect(thrown(() => checkJson(metadata, 'record.metadata', 'test', 'update'))?.message).toBe(
        `[sessionkit/test] update: ${expected}; metadata must be plain JSON`,
      );
      expect(thrown(() => measureJson(metadata, 'record.metadata', 'test', 'update'))?.message).toBe(
        `[sessionkit/test] update: ${expected}; metadata must be plain JSON`,
      );
    }
  });

  it('a failed walk leaves no state behind: the next check of good metadata passes', () => {
    for (const [metadata] of BAD) {
      expect(thrown(() => checkJson(metadata, 'm', 's', 'create'))).toBeDefined();
      expect(() => checkJson({ a: [1, { b: 2 }] }, 'm', 's', 'create')).not.toThrow();
    }
  });

  it('agrees with the reference on arbitrary values with bad nodes planted anywhere', () => {
    const bad = fc.constantFrom<unknown>(Number.NaN, Infinity, undefined, () => 0, new Date(0), new Map(), 1n);
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('object')),
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), bad),
      array: fc.array(tie('node'), { maxLength: 4 }),
      object: fc.dictionary(fc.string({ maxLength: 4 }), tie('node'), { maxKeys: 4 }),
    })).node;
    fc.assert(
      fc.property(value, (metadata) => {
        const expected = referenceProblem(metadata, 'record.metadata');
        for (const output of OUTPUTS) {
          const error = thrown(() =>
            checkRecord(rules, record({ metadata: metadata as never }), { operation: 'create', output }),
          );
          if (expected === undefined) expect(error).toBeUndefined();
          else expect(error?.message).toBe(`[sessionkit/test] create: ${expected}; metadata must be plain JSON`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('checkRecord output modes', () => {
  const json = fc
    .jsonValue({ maxDepth: 4 })
    .map((v) => JSON.parse(JSON.stringify(v)))
    .chain((v) =>
      fc.string({ unit: 'binary', maxLength: 8 }).map((s) => ({
        v,
        s,
        odd: '\u0000\u001f"\\\u007f\u00e9\u20ac\ud83d\ude00\ud800x\udc00',
        n: [-0, 1e21, 5e-324, -1.5e-7],
      })),
    );

  it('every mode counts exactly the UTF-8 bytes of encodeRecord and accepts or rejects alike at the limit', () => {
    fc.assert(
      fc.property(json, fc.integer({ min: -40, max: 40 }), (metadata, slack) => {
        const exact = Buffer.byteLength(encodeRecord(record({ metadata })), 'utf8');
        const limit = Math.max(256, exact + slack);
        const limited = resolveRecordRules('test', { clock: () => NOW, maxRecordBytes: limit });
        for (const output of OUTPUTS) {
          const error = thrown(() => checkRecord(limited, record({ metadata }), { operation: 'create', output }));
          if (exact <= limit) {
            expect(error).toBeUndefined();
            expect(checkRecord(limited, record({ metadata }), { operation: 'create', output }).bytes).toBe(exact);
          } else {
            expect(error?.field).toBe('record');
            expect(error?.message).toBe(
              `[sessionkit/test] create: record is ${exact} bytes encoded, over maxRecordBytes (${limit}); keep large data out of metadata`,
            );
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('is exact to the byte when every metadata character is a worst-case escape', () => {
    for (const unit of ['\u0001', '\ud800', '\udc00', '\u001f']) {
      for (const n of [40, 41, 200, 1000]) {
        const metadata = { [unit.repeat(3)]: [unit.repeat(n), { k: unit }] };
        const exact = Buffer.byteLength(encodeRecord(record({ metadata })), 'utf8');
        for (const limit of [exact - 1, exact]) {
          const limited = resolveRecordRules('test', { clock: () => NOW, maxRecordBytes: limit });
          for (const output of OUTPUTS) {
            const error = thrown(() => checkRecord(limited, record({ metadata }), { operation: 'create', output }));
            expect(error?.field, `${output} ${n} ${limit - exact}`).toBe(limit < exact ? 'record' : undefined);
          }
        }
      }
    }
  });

  it("'encoded' returns exactly encodeRecord(record), with the generated id in it", () => {
    fc.assert(
      fc.property(json, (metadata) => {
        const v = checkRecord(rules, record({ id: '', metadata }), {
          operation: 'create',
          generateId: () => 'generated-id',
          output: 'encoded',
        });
        expect(v.record.id).toBe('generated-id');
        expect(v.encoded).toBe(encodeRecord(v.record));
        expect(v.bytes).toBe(Buffer.byteLength(v.encoded, 'utf8'));
      }),
      { numRuns: 100 },
    );
  });

  it("'copy' returns a deep copy that shares nothing mutable and keeps __proto__ keys as data", () => {
    const metadata = JSON.parse('{"__proto__":{"admin":true},"list":[{"a":1},[2]],"s":"x"}');
    const { record: out } = checkRecord(rules, record({ metadata }), { operation: 'update', output: 'copy' });
    const copy = out.metadata as Record<string, unknown>;
    expect(copy).toEqual(metadata);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(metadata));
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'list', 's']);
    expect(copy).not.toBe(metadata);
    expect(copy.list).not.toBe(metadata.list);
    expect((copy.list as unknown[])[0]).not.toBe(metadata.list[0]);
    expect((copy.list as unknown[])[1]).not.toBe(metadata.list[1]);
    metadata.list[0].a = 99;
    expect(((copy.list as unknown[])[0] as { a: number }).a).toBe(1);
    const shared = checkRecord(rules, record({ metadata }), { operation: 'update' }).record.metadata;
    expect(shared).toBe(metadata);
  });

  it('generateId runs once every other check has passed, with the validated owner', () => {
    const calls: unknown[] = [];
    const generateId = (owner: { userId: string; tenantId: string }) => {
      calls.push(owner);
      return `id-for-${owner.userId}`;
    };
    expect(() =>
      checkRecord(rules, record({ id: '', metadata: { x: Number.NaN } }), { operation: 'create', generateId }),
    ).toThrow(/is NaN/);
    expect(() =>
      checkRecord(rules, record({ id: '', expiresAt: new Date(NOW - 1) }), { operation: 'create', generateId }),
    ).toThrow(/expiresAt/);
    expect(calls).toEqual([]);
    const v = checkRecord(rules, record({ id: '', userId: 'alice' }), { operation: 'create', generateId });
    expect(v.record.id).toBe('id-for-alice');
    expect(calls).toEqual([{ userId: 'alice', tenantId: 't' }]);
    // The generated id counts towards the size.
    expect(v.bytes).toBe(Buffer.byteLength(encodeRecord(v.record), 'utf8'));
  });
});
