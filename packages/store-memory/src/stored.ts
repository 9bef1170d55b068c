// The stored layout of one session and its byte cost: what create and update keep of a
// validated record (plain values, the metadata on one flat "tape" or as its JSON text),
// what that is accounted for against maxBytes, and the fresh record a read hands out.
import type { EncodedRecord, JsonValue, SessionRecord } from '@sessionkit/core';
import type { Bucket } from './expiry-index.js';
import type { UserIndex } from './user-index.js';

/**
 * Heap bytes of one entry besides its strings and kept values: the Entry object and its
 * boxed times, its slots in the id Map, the user's heap and the expiry bucket's Set (the heap
 * test checks that the accounting stays above what is really taken).
 */
const ENTRY_OVERHEAD = 400;
/**
 * Metadata is kept as values when they cost at most twice its JSON text's length plus
 * KEPT_ALLOWANCE bytes (else as the text itself, one or two bytes a character): typical
 * metadata of up to a few KB is kept as values; large or densely nested metadata as text.
 */
const KEPT_ALLOWANCE = 2048;
/** On a tape (see {@link keep}), an object follows: its key count, then each key and value. */
const OBJECT = Object.freeze({});
/** On a tape, an array follows: its length, then each element. */
const ARRAY = Object.freeze({});

/** What is kept of a record besides its id, owner and times. */
export interface Stored {
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  /** The metadata on a tape, or its JSON text when `metaIsText`. */
  meta: unknown;
  metaIsText: boolean;
}

/**
 * One stored session. The fields a read hands out are kept as plain values: strings,
 * numbers, `factorsUsed` as an array (copied on read) and the metadata in one of two
 * forms, chosen per record by what it would take on the heap (see {@link stored}): on one
 * flat array (a tape, see {@link keep}) when that takes at most twice its JSON text plus
 * {@link KEPT_ALLOWANCE}, read by a copy; else as its JSON text (shapes such as
 * `[{},{},…]` that take far more as values than as text), read by a parse. Times are
 * integer ms kept as numbers (exactly what the Dates handed out will hold), so touch and
 * extend change a number in place.
 */
export class Entry {
  /** The expiry bucket holding this entry (null once removed). */
  bucket: Bucket | null = null;
  /** Its position in its owner's eviction heap (-1 once removed). */
  slot = -1;
  transactionId: string;
  factorsUsed: readonly string[];
  assuranceLevel: number;
  /** The metadata as kept values, or its JSON text when {@link metaIsText}. */
  meta: unknown;
  metaIsText: boolean;

  constructor(
    readonly id: string,
    /** The (tenant, user) index this entry belongs to. */
    readonly owner: UserIndex,
    s: Stored,
    /** Bytes accounted for this entry (see {@link stored}). */
    public cost: number,
    readonly createdAt: number,
    public expiresAt: number,
    public lastActivityAt: number,
  ) {
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }

  /** Replaces the stored fields (update). */
  set(s: Stored): void {
    this.transactionId = s.transactionId;
    this.factorsUsed = s.factorsUsed;
    this.assuranceLevel = s.assuranceLevel;
    this.meta = s.meta;
    this.metaIsText = s.metaIsText;
  }
}

/** Bytes a string's characters may take: one each when ASCII, else two (UTF-16). */
function textBytes(text: string, ascii: boolean): number {
  return ascii ? text.length : 2 * text.length;
}

/** What {@link keep} spent so far and may spend, and the tape it writes. */
let spent = 0;
let budget = 0;
let wide = 1;
const tape: unknown[] = [];

/** Heap bytes of a string: a 16-byte header and its characters, rounded up to 8. */
function stringCost(s: string): number {
  return (16 + wide * s.length + 7) & ~7;
}

/**
 * Writes a freshly parsed JSON value onto `tape` in prefix order (an object as OBJECT, its
 * key count, then each key and value; an array as ARRAY, its length, then each element;
 * anything else as itself), so that the whole metadata is kept in one array however it
 * nests. Adds what that takes on the heap to `spent` (64-bit, pointer compression off: a
 * slot of 8 bytes an item, strings, and 16 bytes a number that is not a small integer);
 * false once past `budget`.
 */
function keep(v: unknown): boolean {
  if (typeof v === 'string') {
    spent += 8 + stringCost(v);
    tape.push(v);
    return true;
  }
  if (typeof v === 'number') {
    spent += (v | 0) === v && v < 0x40000000 && v >= -0x40000000 && (v !== 0 || 1 / v > 0) ? 8 : 24;
    tape.push(v);
    return true;
  }
  if (typeof v !== 'object' || v === null) {
    spent += 8; // true, false, null
    tape.push(v);
    return true;
  }
  if (Array.isArray(v)) {
    const n = v.length;
    spent += 16;
    tape.push(ARRAY, n);
    for (let i = 0; i < n; i++) if (!keep(v[i])) return false;
    return spent <= budget;
  }
  const keys = Object.keys(v);
  const n = keys.length;
  spent += 16;
  tape.push(OBJECT, n);
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    spent += 8 + stringCost(key); // counted in every session, though V8 often shares keys
    tape.push(key);
    if (!keep((v as Record<string, unknown>)[key])) return false;
  }
  return spent <= budget;
}

/** Where {@link unkeep} reads on the tape. */
let at = 0;

/** The JSON value that starts at `at` on a tape, as a fresh copy. */
function unkeep(t: readonly unknown[]): JsonValue {
  const x = t[at++];
  if (x === OBJECT) {
    const n = t[at++] as number;
    const o: Record<string, JsonValue> = {};
    for (let i = 0; i < n; i++) {
      const key = t[at++] as string;
      const value = unkeep(t);
      if (key === '__proto__') {
        Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
      } else o[key] = value;
    }
    return o;
  }
  if (x === ARRAY) {
    const n = t[at++] as number;
    const out: JsonValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = unkeep(t);
    return out;
  }
  return x as JsonValue;
}

/** A fresh copy of kept metadata. */
function copyKept(t: unknown): JsonValue {
  at = 0;
  return unkeep(t as readonly unknown[]);
}

/**
 * What is kept of a validated record, and its accounted bytes. transactionId and
 * factorsUsed are core's checked copies (identifiers, at most a few hundred characters, kept
 * as id, userId and tenantId are). The metadata comes from parsing its slice of core's
 * encoding of the record (`{"v":1,…,"assuranceLevel":…,"metadata":…,"createdAt":…,…}`):
 * fresh strings, none of them a slice of the caller's. The fields before metadata are JSON
 * strings (every `"` in them escaped) or numbers, and those after it are numbers, so the
 * two markers can only be the field names.
 */
export function stored(v: EncodedRecord): { s: Stored; cost: number } {
  const encoded = v.encoded;
  const r = v.record;
  const ascii = v.bytes === encoded.length; // UTF-8 bytes equal UTF-16 units only for ASCII
  wide = ascii ? 1 : 2;
  spent = 0;
  for (const f of r.factorsUsed) spent += 8 + stringCost(f);
  let cost = ENTRY_OVERHEAD + textBytes(r.id, ascii) + stringCost(r.transactionId) + 48 + spent;
  const metaAt = encoded.indexOf(',"metadata":');
  const metaText = encoded.slice(metaAt + 12, encoded.lastIndexOf(',"createdAt":'));
  spent = 0;
  budget = 2 * metaText.length + KEPT_ALLOWANCE;
  tape.length = 0;
  const fits = keep(JSON.parse(metaText));
  let meta: unknown;
  let metaIsText = false;
  if (fits) {
    meta = tape.slice(); // an array of exactly its length
    cost += 48 + spent;
  } else {
    const text = ` ${metaText}`; // JSON.parse skips the space
    text.charCodeAt(0); // flattens it now: no slice of `encoded` kept alive behind it
    meta = text;
    metaIsText = true;
    cost += textBytes(text, ascii);
  }
  tape.length = 0;
  const s: Stored = {
    transactionId: r.transactionId,
    factorsUsed: r.factorsUsed,
    assuranceLevel: r.assuranceLevel,
    meta,
    metaIsText,
  };
  return { s, cost };
}

/** The session as a fresh record (nothing in it shared with the store or another read). */
export function toRecord(e: Entry): SessionRecord {
  return {
    id: e.id,
    userId: e.owner.userId,
    tenantId: e.owner.tenantId,
    transactionId: e.transactionId,
    factorsUsed: e.factorsUsed.slice(),
    assuranceLevel: e.assuranceLevel,
    metadata: e.metaIsText ? (JSON.parse(e.meta as string) as JsonValue) : copyKept(e.meta), // a fresh copy for every read
    createdAt: new Date(e.createdAt),
    expiresAt: new Date(e.expiresAt),
    lastActivityAt: new Date(e.lastActivityAt),
  };
}
