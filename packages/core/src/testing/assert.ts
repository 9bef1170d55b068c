/**
 * The assertions the suite uses, without `node:assert`, so `@sessionkit/core/testing`
 * runs unchanged on Node, Bun, Deno, Workers and edge runtimes (which have no `node:`
 * modules). Semantics follow `node:assert/strict` for what the suite compares: `equal` is
 * `Object.is`; `deepStrictEqual` compares primitives with `Object.is`, Dates by time,
 * arrays by length and element, and other objects by prototype and own enumerable keys
 * (an own `__proto__` key included), recursively. A failure throws an `AssertionError`
 * whose message gives the caller's text, then where the values first differ and both
 * values there.
 */

export class AssertionError extends Error {
  override name = 'AssertionError';
  readonly actual: unknown;
  readonly expected: unknown;
  readonly code = 'ERR_ASSERTION';
  constructor(message: string, actual?: unknown, expected?: unknown) {
    super(message);
    this.actual = actual;
    this.expected = expected;
  }
}

/** A short, readable rendering of a value for failure messages. */
export function show(value: unknown, depth = 0): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[Function]' : String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : `Date(${value.toISOString()})`;
  if (depth > 3) return Array.isArray(value) ? '[…]' : '{…}';
  if (Array.isArray(value)) {
    const items = value.slice(0, 20).map((v) => show(v, depth + 1));
    if (value.length > 20) items.push(`… ${value.length - 20} more`);
    return `[${items.join(', ')}]`;
  }
  const proto = Object.getPrototypeOf(value);
  const prefix =
    proto === null
      ? '[Object: null prototype] '
      : proto === Object.prototype
        ? ''
        : `${proto?.constructor?.name ?? '?'} `;
  const keys = ownKeys(value);
  const shown = keys.slice(0, 20).map((k) => `${String(k)}: ${show(ownValue(value, k), depth + 1)}`);
  if (keys.length > 20) shown.push(`… ${keys.length - 20} more`);
  return `${prefix}{ ${shown.join(', ')} }`;
}

function ownKeys(value: object): (string | symbol)[] {
  return Reflect.ownKeys(value).filter((k) => Object.prototype.propertyIsEnumerable.call(value, k));
}

/** The own property's value (`value[key]` would read the prototype for `__proto__`). */
function ownValue(value: object, key: string | symbol): unknown {
  const d = Object.getOwnPropertyDescriptor(value, key);
  return d && 'value' in d ? d.value : d?.get?.call(value);
}

function pathOf(path: string, key: string | symbol | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) return `${path}.${key}`;
  return `${path}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
}

/** Where `actual` and `expected` first differ (`undefined` when deep-strict-equal). */
export function firstDifference(actual: unknown, expected: unknown, path = 'value'): string | undefined {
  if (Object.is(actual, expected)) return undefined;
  const diff = (why: string) => `${path}: ${why}`;
  const values = () => diff(`expected ${show(expected)}, got ${show(actual)}`);
  if (typeof actual !== 'object' || typeof expected !== 'object' || actual === null || expected === null) {
    return values();
  }
  if (Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)) {
    return diff(`different prototypes: expected ${show(expected)}, got ${show(actual)}`);
  }
  if (actual instanceof Date) {
    return Object.is(actual.getTime(), (expected as Date).getTime()) ? undefined : values();
  }
  if (actual instanceof RegExp) return String(actual) === String(expected) ? undefined : values();
  if (actual instanceof Set || actual instanceof Map) {
    const a = [...(actual as Set<unknown>)];
    const e = [...(expected as Set<unknown>)];
    return firstDifference(a, e, `${path} (entries)`);
  }
  if (Array.isArray(actual)) {
    const e = expected as unknown[];
    const n = Math.min(actual.length, e.length);
    for (let i = 0; i < n; i++) {
      if (i in actual !== i in e) return diff(`a hole at [${i}] in one array only`);
      const d = firstDifference(actual[i], e[i], pathOf(path, i));
      if (d !== undefined) return d;
    }
    if (actual.length !== e.length) {
      return diff(`length ${actual.length}, expected ${e.length}: expected ${show(expected)}, got ${show(actual)}`);
    }
  }
  const aKeys = ownKeys(actual).filter((k) => !(Array.isArray(actual) && isIndex(k)));
  const eKeys = ownKeys(expected).filter((k) => !(Array.isArray(expected) && isIndex(k)));
  for (const k of eKeys) {
    if (!Object.hasOwn(actual, k) || !Object.prototype.propertyIsEnumerable.call(actual, k)) {
      return diff(`missing key ${String(k)} (expected ${show(ownValue(expected, k))})`);
    }
  }
  for (const k of aKeys) {
    if (!Object.hasOwn(expected, k) || !Object.prototype.propertyIsEnumerable.call(expected, k)) {
      return diff(`unexpected key ${String(k)} (got ${show(ownValue(actual, k))})`);
    }
  }
  for (const k of eKeys) {
    const d = firstDifference(ownValue(actual, k), ownValue(expected, k), pathOf(path, k));
    if (d !== undefined) return d;
  }
  return undefined;
}

function isIndex(key: string | symbol): boolean {
  return typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key);
}

function withMessage(message: string | undefined, detail: string): string {
  return message === undefined ? detail : `${message}\n${detail}`;
}

function ok(value: unknown, message?: string): asserts value {
  if (!value) throw new AssertionError(message ?? `expected a truthy value, got ${show(value)}`, value, true);
}

function equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(withMessage(message, `expected ${show(expected)}, got ${show(actual)}`), actual, expected);
  }
}

function deepStrictEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  const d = firstDifference(actual, expected);
  if (d !== undefined) {
    throw new AssertionError(withMessage(message ?? 'values are not deep-strict-equal', d), actual, expected);
  }
}

function fail(message: string): never {
  throw new AssertionError(message);
}

function match(value: string, pattern: RegExp, message?: string): void {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new AssertionError(withMessage(message, `${show(value)} does not match ${pattern}`), value, pattern);
  }
}

function throws(fn: () => unknown, check?: (error: unknown) => boolean, message?: string): void {
  try {
    fn();
  } catch (error) {
    if (check !== undefined && check(error) !== true) {
      const got = error instanceof Error ? `${error.name}: ${error.message}` : show(error);
      throw new AssertionError(withMessage(message, `the error did not pass the check: ${got}`), error);
    }
    return;
  }
  throw new AssertionError(message ?? 'expected the function to throw');
}

/** `node:assert/strict`'s subset the suite uses (see the module comment). */
export const assert: {
  ok: typeof ok;
  equal: typeof equal;
  deepStrictEqual: typeof deepStrictEqual;
  fail: typeof fail;
  match: typeof match;
  throws: typeof throws;
} = { ok, equal, deepStrictEqual, fail, match, throws };

export default assert;
