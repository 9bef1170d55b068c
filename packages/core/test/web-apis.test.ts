import nodeAssert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64url } from '../src/ids.js';
import { generateSessionId, unrefTimer } from '../src/index.js';
import { utf8Bytes } from '../src/json.js';
import { AssertionError, assert } from '../src/testing/assert.js';
import { refTimer } from '../src/timeout.js';

// Core runs on Web APIs only (no Buffer, no node:crypto): each hand-written piece is
// checked here against Node's own implementation.

describe('utf8Bytes', () => {
  it('matches Buffer.byteLength for any string, lone surrogates included (short: encodeInto; long: counted by hand)', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('\ud800', '\udc00', '\ud83d\ude00', 'é', '日', 'a'),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 30 }), fc.nat({ max: 70_000 }), (parts, pad) => {
        const short = parts.join('');
        expect(utf8Bytes(short)).toBe(Buffer.byteLength(short, 'utf8'));
        const long = 'x'.repeat(pad) + short; // crosses the 64 Ki-unit switch to the hand count
        expect(utf8Bytes(long)).toBe(Buffer.byteLength(long, 'utf8'));
      }),
      { numRuns: 300 },
    );
    expect(utf8Bytes(`${'a'.repeat(70_000)}\ud800`)).toBe(70_003);
    expect(utf8Bytes(`${'a'.repeat(70_000)}\ud83d\ude00\udc00é`)).toBe(70_009);
  });
});

describe('base64url', () => {
  it("matches Buffer's base64url for every length and offset", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        expect(base64url(bytes, start, end)).toBe(Buffer.from(bytes).toString('base64url', start, end));
      }),
      { numRuns: 500 },
    );
  });
  it('generateSessionId gives 43 base64url characters of fresh randomness', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = generateSessionId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(32);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
  });
});

describe('timers', () => {
  it('unrefTimer and refTimer call unref/ref where they exist and ignore numeric handles', () => {
    const calls: string[] = [];
    const fake = { unref: () => calls.push('unref'), ref: () => calls.push('ref') };
    unrefTimer(fake as unknown as ReturnType<typeof setTimeout>);
    refTimer(fake as unknown as ReturnType<typeof setTimeout>);
    expect(calls).toEqual(['unref', 'ref']);
    expect(() => unrefTimer(7 as unknown as ReturnType<typeof setTimeout>)).not.toThrow();
    expect(() => refTimer(undefined)).not.toThrow();
  });
});

describe("the suite's assert (node:assert/strict semantics, no node: modules)", () => {
  const fails = (actual: unknown, expected: unknown): string => {
    try {
      assert.deepStrictEqual(actual, expected, 'what');
    } catch (error) {
      expect(error).toBeInstanceOf(AssertionError);
      return (error as Error).message;
    }
    throw new Error('deepStrictEqual passed');
  };
  it('agrees with node:assert/strict on the values the suite compares', () => {
    const withProto = JSON.parse('{"__proto__":{"a":1}}');
    const pairs: [unknown, unknown][] = [
      [
        { a: 1, b: [1, 2] },
        { b: [1, 2], a: 1 },
      ],
      [{ a: 1 }, { a: 1, b: undefined }],
      [
        [1, 2],
        [1, 2, 3],
      ],
      [new Date(5), new Date(5)],
      [new Date(5), new Date(6)],
      [new Date(5), 5],
      [{ a: 1 }, Object.assign(Object.create(null), { a: 1 })],
      [withProto, JSON.parse('{"__proto__":{"a":1}}')],
      [withProto, JSON.parse('{"__proto__":{"a":2}}')],
      [withProto, {}],
      [0, -0],
      [Number.NaN, Number.NaN],
      ['1', 1],
      [null, undefined],
      [[[]], [{}]],
      [{ x: [null, { y: 'z' }] }, { x: [null, { y: 'z' }] }],
      [{ x: [null, { y: 'z' }] }, { x: [null, { y: 'w' }] }],
    ];
    for (const [a, b] of pairs) {
      let nodeEqual = true;
      try {
        nodeAssert.deepStrictEqual(a, b);
      } catch {
        nodeEqual = false;
      }
      let oursEqual = true;
      try {
        assert.deepStrictEqual(a, b);
      } catch {
        oursEqual = false;
      }
      expect(oursEqual, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(nodeEqual);
    }
  });
  it('says where the values differ', () => {
    expect(fails({ x: [null, { y: 'z' }] }, { x: [null, { y: 'w' }] })).toBe(
      'what\nvalue.x[1].y: expected "w", got "z"',
    );
    expect(fails([1], [1, 2])).toContain('length 1, expected 2');
    expect(fails({ a: 1 }, { b: 1 })).toContain('missing key b');
    expect(fails(new Date(0), new Date(1))).toContain('Date(1970-01-01T00:00:00.001Z)');
    expect(() => assert.equal(1, 2, 'n')).toThrow('n\nexpected 2, got 1');
    expect(() => assert.ok(0)).toThrow(AssertionError);
    expect(() => assert.match('abc', /^x/)).toThrow('"abc" does not match /^x/');
    expect(() => assert.throws(() => {})).toThrow('expected the function to throw');
    expect(() =>
      assert.throws(
        () => {
          throw new Error('e');
        },
        () => false,
      ),
    ).toThrow('did not pass the check');
    expect(() => assert.fail('boom')).toThrow('boom');
  });
});
