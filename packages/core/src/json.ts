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

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is JSON (no undefined, functions, symbols, BigInt, NaN, Infinity,
 * cycles, sparse arrays, class instances such as Date or Map) and returns the UTF-8
 * byte length of its `JSON.stringify` text. Throws `INVALID` naming the path.
 */
export function measureJson(value: unknown, path: string, store: string | undefined, operation: string): number {
  const ancestors: object[] = [];
  const fail = (at: string, problem: string): never => {
    throw new SessionError('INVALID', `${at} ${problem}; metadata must be plain JSON`, {
      store,
      operation,
      field: path,
    });
  };
  const walk = (v: unknown, at: string, depth: number): number => {
    switch (typeof v) {
      case 'string':
        return jsonStringBytes(v);
      case 'number':
        if (!Number.isFinite(v)) return fail(at, `is ${String(v)}`);
        return String(v).length;
      case 'boolean':
        return v ? 4 : 5;
      case 'object': {
        if (v === null) return 4;
        if (depth >= MAX_JSON_DEPTH) return fail(at, `nests deeper than ${MAX_JSON_DEPTH} levels`);
        if (ancestors.includes(v)) return fail(at, 'is a circular reference');
        ancestors.push(v);
        let bytes = 2;
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            if (!(i in v)) fail(`${at}[${i}]`, 'is a hole in a sparse array');
            bytes += walk(v[i], `${at}[${i}]`, depth + 1) + (i > 0 ? 1 : 0);
          }
        } else {
          if (!isPlainObject(v)) fail(at, `is ${describeInstance(v)}`);
          let first = true;
          for (const key of Object.keys(v)) {
            bytes += jsonStringBytes(key) + 1 + walk((v as Record<string, unknown>)[key], `${at}.${key}`, depth + 1);
            if (!first) bytes += 1;
            first = false;
          }
        }
        ancestors.pop();
        return bytes;
      }
      default:
        return fail(at, `is ${describeType(v)}`);
    }
  };
  return walk(value, path, 0);
}

function describeInstance(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name ? `a ${name} instance` : 'not a plain object';
}

/**
 * A deep copy of a JSON value (already checked with {@link measureJson}). Keys such as
 * `__proto__` are copied as own properties, never as prototypes.
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
