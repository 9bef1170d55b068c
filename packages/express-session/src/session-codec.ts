// The session object <-> the record's metadata. JSON, plus Dates anywhere in the session
// (cookie.expires included) kept as Dates: a Date becomes {"$date": "<ISO string>"}, and
// an object of the session's own that happens to have a "$date" or "$obj" key is wrapped
// as {"$obj": {...}} so that it never reads back as a Date.
import { type JsonValue, SessionError } from '@sessionkit/core';
import { STORE } from './errors.js';

const DATE = '$date';
const OBJ = '$obj';
const MAX_DEPTH = 64;

function invalid(path: string, problem: string): SessionError {
  return new SessionError('INVALID', `the session ${problem} (at ${path || 'the top'})`, {
    store: STORE,
    operation: 'set',
    field: 'session',
  });
}

/** The session as JSON with its Dates tagged; follows JSON.stringify's rules otherwise. */
export function encodeSession(session: unknown): { [key: string]: JsonValue } {
  const seen = new Set<object>();
  const walk = (value: unknown, path: string, depth: number): JsonValue | undefined => {
    if (value instanceof Date) {
      const ms = value.getTime();
      return Number.isNaN(ms) ? null : { [DATE]: value.toISOString() };
    }
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        return Number.isFinite(value) ? value : null;
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
      case 'bigint':
        throw invalid(path, 'holds a BigInt, which JSON cannot carry');
    }
    if (value === null) return null;
    if (depth > MAX_DEPTH) throw invalid(path, `nests deeper than ${MAX_DEPTH} levels`);
    const object = value as { toJSON?: () => unknown };
    if (typeof object.toJSON === 'function') return walk(object.toJSON(), path, depth + 1);
    if (seen.has(object)) throw invalid(path, 'holds a cycle');
    seen.add(object);
    try {
      if (Array.isArray(object)) {
        return object.map((item, i) => walk(item, `${path}[${i}]`, depth + 1) ?? null);
      }
      const out: { [key: string]: JsonValue } = {};
      let tagLike = false;
      for (const key of Object.keys(object)) {
        const item = walk((object as Record<string, unknown>)[key], path ? `${path}.${key}` : key, depth + 1);
        if (item === undefined) continue;
        out[key] = item;
        if (key === DATE || key === OBJ) tagLike = true;
      }
      return tagLike ? { [OBJ]: out } : out;
    } finally {
      seen.delete(object);
    }
  };
  const encoded = walk(session, '', 0);
  if (encoded === null || typeof encoded !== 'object' || Array.isArray(encoded)) {
    throw invalid('', 'must be an object');
  }
  return encoded;
}

/**
 * The session from a record's metadata that the caller owns (a store hands out a copy on
 * every read): Dates revived and wrapped objects unwrapped in place, no copy made.
 * `null` when the metadata is not a session object.
 */
export function reviveSession(metadata: JsonValue): Record<string, unknown> | null {
  const session = revive(metadata);
  if (session === null || typeof session !== 'object' || Array.isArray(session) || session instanceof Date) return null;
  return session as Record<string, unknown>;
}

function revive(value: JsonValue): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as JsonValue;
      if (item !== null && typeof item === 'object') value[i] = revive(item) as JsonValue;
    }
    return value;
  }
  const date = value[DATE];
  if (typeof date === 'string' && onlyKey(value, DATE)) return new Date(date);
  const wrapped = value[OBJ];
  if (wrapped !== null && typeof wrapped === 'object' && !Array.isArray(wrapped) && onlyKey(value, OBJ)) {
    return reviveObject(wrapped);
  }
  return reviveObject(value);
}

function reviveObject(value: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = value[key] as JsonValue;
    if (item !== null && typeof item === 'object') value[key] = revive(item) as JsonValue;
  }
  return value;
}

/** Whether `key` is the object's one own key (checked without allocating a key list). */
function onlyKey(value: { [key: string]: JsonValue }, key: string): boolean {
  let own = 0;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    if (k !== key) return false;
    own++;
  }
  return own === 1;
}

/**
 * The session back from the record's metadata, Dates as Dates, as a copy: the metadata is
 * left as it was (the tags are revived on a structured clone of it).
 */
export function decodeSession(metadata: JsonValue): Record<string, unknown> | null {
  return reviveSession(structuredClone(metadata));
}
