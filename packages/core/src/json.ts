import { SessionError } from './errors.js';
import { describeType } from './tenant.js';

/** The deepest metadata nesting accepted. */
export const MAX_JSON_DEPTH = 64;

// Characters JSON.stringify writes as themselves, one byte each.
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** UTF-8 bytes of `JSON.stringify(value)` for a string, computed without building it. */
export function jsonStringBytes(value: string): number {
  if (PLAIN_JSON_STRING.test(value)) return value.length + 2;
  let bytes = 2;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) bytes += 2;
    else if (c < 0x20) bytes += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
    else if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 6; // a lone surrogate is written as \udXXX
    } else if (c >= 0xdc00 && c <= 0xdfff) bytes += 6;
    else bytes += 3;
  }
  return bytes;
}

const encoder = new TextEncoder();
/** Texts up to this many UTF-16 units are counted by `encodeInto` (3 bytes per unit at most). */
const ENCODE_INTO_MAX = 1 << 16;
let scratch = new Uint8Array(0);
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * UTF-8 bytes of `text` (what `TextEncoder` writes: a lone surrogate counts as the 3
 * bytes of U+FFFD), without `Buffer`. Up to 64 Ki units it lets `TextEncoder.encodeInto`
 * write into a reused scratch buffer (native, about as fast as Node's
 * `Buffer.byteLength`); longer texts are counted by hand from the first non-ASCII unit,
 * so the scratch buffer never grows past 192 KiB.
 */
export function utf8Bytes(text: string): number {
  const length = text.length;
  if (length <= ENCODE_INTO_MAX) {
    if (scratch.length < length * 3)
      scratch = new Uint8Array(Math.min(ENCODE_INTO_MAX, Math.max(1024, length * 2)) * 3);
    return encoder.encodeInto(text, scratch).written;
  }
  const first = NON_ASCII.exec(text);
  if (first === null) return length;
  let bytes = length;
  for (let i = first.index; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++; // 4 bytes for 2 units
      bytes += 2;
    } else bytes += 2; // 3 bytes (a lone surrogate is written as U+FFFD)
  }
  return bytes;
}

/** Bytes of `JSON.stringify(value)` for a finite number (`String(value)`, without building it for integers). */
function numberBytes(value: number): number {
  if (Number.isInteger(value) && value > -1e15 && value < 1e15) {
    if (value === 0) return 1; // also -0, written "0"
    let digits = value < 0 ? 2 : 1;
    const abs = value < 0 ? -value : value;
    for (let p = 10; abs >= p; p *= 10) digits++;
    return digits;
  }
  return String(value).length;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeInstance(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name ? `a ${name} instance` : 'not a plain object';
}

/**
 * The state of one walk over a JSON value. The happy path builds no path strings: when
 * a check fails, the walk records the problem and unwinds, each level adding its key or
 * index to `keys` (innermost first), and the path is rendered only then.
 */
class Walk {
  readonly ancestors: object[] = [];
  /** Keys (strings) and indices (numbers) from the failing node up to the root. */
  readonly keys: (string | number)[] = [];
  problem = '';
  /** copy walks: UTF-8 bytes counted so far. */
  bytes = 0;

  /** Records the problem of the node being visited; callers then unwind. */
  fail(problem: string): void {
    this.problem = problem;
  }

  /** True (problem and index recorded) when `item`, read at `array[i]`, is a hole. */
  hole(array: unknown[], i: number, item: unknown): boolean {
    if (item !== undefined || i in array) return false;
    this.fail('is a hole in a sparse array');
    this.keys.push(i);
    return true;
  }

  /** Checks the shape of an object node shared by every walk; returns false on failure. */
  enter(v: object, depth: number): boolean {
    if (depth >= MAX_JSON_DEPTH) {
      this.fail(`nests deeper than ${MAX_JSON_DEPTH} levels`);
      return false;
    }
    const ancestors = this.ancestors;
    for (let i = 0; i < ancestors.length; i++) {
      if (ancestors[i] === v) {
        this.fail('is a circular reference');
        return false;
      }
    }
    ancestors.push(v);
    return true;
  }

  /** Checks a non-object value; false (problem recorded) when it is not JSON. */
  scalar(v: unknown): boolean {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return true;
      case 'number':
        if (Number.isFinite(v)) return true;
        this.fail(`is ${String(v)}`);
        return false;
      default:
        this.fail(`is ${describeType(v)}`);
        return false;
    }
  }

  /** The path of the failing node: `root` then `.key` / `[index]` per level. */
  path(root: string): string {
    let at = root;
    for (let i = this.keys.length - 1; i >= 0; i--) {
      const k = this.keys[i];
      at += typeof k === 'number' ? `[${k}]` : `.${k}`;
    }
    return at;
  }

  error(root: string, store: string | undefined, operation: string): SessionError {
    return new SessionError('INVALID', `${this.path(root)} ${this.problem}; metadata must be plain JSON`, {
      store,
      operation,
      field: root,
    });
  }
}

/** Checks `v` (validation only); false when it failed (`walk.problem`, `walk.keys` set). */
function checkWalk(walk: Walk, v: unknown, depth: number): boolean {
  if (typeof v !== 'object') return walk.scalar(v);
  if (v === null) return true;
  if (!walk.enter(v, depth)) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (walk.hole(v, i, item)) return false;
      if (!checkWalk(walk, item, depth + 1)) {
        walk.keys.push(i);
        return false;
      }
    }
  } else {
    if (!isPlainObject(v)) {
      walk.fail(`is ${describeInstance(v)}`);
      return false;
    }
    for (const key of Object.keys(v)) {
      if (!checkWalk(walk, (v as Record<string, unknown>)[key], depth + 1)) {
        walk.keys.push(key);
        return false;
      }
    }
  }
  walk.ancestors.pop();
  return true;
}

/** Checks and measures `v`: its UTF-8 JSON bytes, or -1 when it failed. */
function measureWalk(walk: Walk, v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return jsonStringBytes(v);
    case 'number':
      if (Number.isFinite(v)) return numberBytes(v);
      walk.scalar(v);
      return -1;
    case 'boolean':
      return v ? 4 : 5;
    case 'object': {
      if (v === null) return 4;
      if (!walk.enter(v, depth)) return -1;
      let bytes = 2;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const item = v[i];
          if (walk.hole(v, i, item)) return -1;
          const b = measureWalk(walk, item, depth + 1);
          if (b < 0) {
            walk.keys.push(i);
            return -1;
          }
          bytes += b + (i > 0 ? 1 : 0);
        }
      } else {
        if (!isPlainObject(v)) {
          walk.fail(`is ${describeInstance(v)}`);
          return -1;
        }
        let first = true;
        for (const key of Object.keys(v)) {
          const b = measureWalk(walk, (v as Record<string, unknown>)[key], depth + 1);
          if (b < 0) {
            walk.keys.push(key);
            return -1;
          }
          bytes += jsonStringBytes(key) + 1 + b;
          if (!first) bytes += 1;
          first = false;
        }
      }
      walk.ancestors.pop();
      return bytes;
    }
    default:
      walk.scalar(v);
      return -1;
  }
}

/** Marks a failed copy walk (never a JSON value). */
const FAILED: unique symbol = Symbol('failed');

/**
 * Bytes a number can take in JSON at most: `String(n)` of a double is at most 25
 * characters (`-0.0000012345678901234567`); exact for integers below 1e15.
 */
function numberBytesBound(value: number): number {
  return Number.isInteger(value) && value > -1e15 && value < 1e15 ? numberBytes(value) : 32;
}

/**
 * Checks and deep-copies `v`, adding an upper bound of its UTF-8 JSON bytes to
 * `walk.bytes` (6 per string unit, the worst case of an escape); FAILED when it failed.
 * Exact counting costs more than the copy (a regular expression per string,
 * `String(n)` per fraction), so it is left to the rare record whose bound is over the limit.
 */
function copyWalk(walk: Walk, v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      walk.bytes += 6 * v.length + 2;
      return v;
    case 'number':
      if (!Number.isFinite(v)) {
        walk.scalar(v);
        return FAILED;
      }
      walk.bytes += numberBytesBound(v);
      return v;
    case 'boolean':
      walk.bytes += 5;
      return v;
    case 'object': {
      if (v === null) {
        walk.bytes += 4;
        return v;
      }
      if (!walk.enter(v, depth)) return FAILED;
      let out: unknown;
      if (Array.isArray(v)) {
        const n = v.length;
        const copy = new Array(n);
        walk.bytes += n + 2; // brackets and commas
        for (let i = 0; i < n; i++) {
          const item = v[i];
          if (walk.hole(v, i, item)) return FAILED;
          const c = copyWalk(walk, item, depth + 1);
          if (c === FAILED) {
            walk.keys.push(i);
            return FAILED;
          }
          copy[i] = c;
        }
        out = copy;
      } else {
        if (!isPlainObject(v)) {
          walk.fail(`is ${describeInstance(v)}`);
          return FAILED;
        }
        const copy: Record<string, unknown> = {};
        const keys = Object.keys(v);
        walk.bytes += keys.length + 2; // braces and commas
        for (const key of keys) {
          const c = copyWalk(walk, (v as Record<string, unknown>)[key], depth + 1);
          if (c === FAILED) {
            walk.keys.push(key);
            return FAILED;
          }
          walk.bytes += 6 * key.length + 3; // quotes and colon
          if (key === '__proto__') {
            Object.defineProperty(copy, key, { value: c, enumerable: true, writable: true, configurable: true });
          } else copy[key] = c;
        }
        out = copy;
      }
      walk.ancestors.pop();
      return out;
    }
    default:
      walk.scalar(v);
      return FAILED;
  }
}

/** @internal What {@link copyJsonBounded} returns. */
export interface BoundedCopy<T> {
  /** A deep copy (`__proto__` keys copied as own properties). */
  value: T;
  /** At least the UTF-8 bytes of `JSON.stringify(value)` (at most about 6 times them). */
  maxBytes: number;
}

/**
 * @internal Checks that `value` is JSON (as {@link checkJson}) and deep-copies it in one
 * walk, with an upper bound of its encoded size (measure the copy with
 * {@link measureJson} when the bound is over a limit). Throws `INVALID` naming the path.
 */
export function copyJsonBounded<T>(
  value: T,
  path: string,
  store: string | undefined,
  operation: string,
): BoundedCopy<T> {
  const walk = new Walk();
  const copy = copyWalk(walk, value, 0);
  if (copy === FAILED) throw walk.error(path, store, operation);
  return { value: copy as T, maxBytes: walk.bytes };
}

/**
 * Checks that `value` is JSON (no undefined, functions, symbols, BigInt, NaN, Infinity,
 * cycles, sparse arrays, class instances such as Date or Map, nothing nested deeper than
 * {@link MAX_JSON_DEPTH}). Throws `INVALID` naming the path of the first bad node, for
 * example `record.metadata.cart[3].price is NaN; metadata must be plain JSON`, with
 * `field` set to `path`.
 *
 * It measures nothing and copies nothing: use it when the value is then serialised with
 * `JSON.stringify` anyway (the text gives the size). No strings are built unless a check
 * fails.
 */
export function checkJson(value: unknown, path: string, store: string | undefined, operation: string): void {
  const walk = new Walk();
  if (!checkWalk(walk, value, 0)) throw walk.error(path, store, operation);
}

/**
 * Checks that `value` is JSON, as {@link checkJson}, and returns the UTF-8 byte length
 * of its `JSON.stringify` text, in one walk. Throws `INVALID` naming the path.
 */
export function measureJson(value: unknown, path: string, store: string | undefined, operation: string): number {
  const walk = new Walk();
  const bytes = measureWalk(walk, value, 0);
  if (bytes < 0) throw walk.error(path, store, operation);
  return bytes;
}

/**
 * A deep copy of a JSON value (already checked with {@link checkJson} or
 * {@link measureJson}). Keys such as `__proto__` are copied as own properties, never as
 * prototypes.
 */
export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = cloneJson((value as Record<string, unknown>)[key]);
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    } else out[key] = item;
  }
  return out as T;
}
