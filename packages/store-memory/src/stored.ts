// The stored layout of one session and its byte cost: what create and update keep of a
// validated record (plain values, the metadata on one flat "tape" or as its JSON text),
// what that is accounted for against maxBytes, and the fresh record a read hands out.
import type { JsonValue, SessionRecord, TenantId, ValidRecord } from '@sessionkit/core';
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

  // What core's update checks read (StoredSessionFacts).
  get userId(): string {
    return this.owner.userId;
  }
  get tenantId(): TenantId {
    return this.owner.tenantId;
  }
  get createdAtMs(): number {
    return this.createdAt;
  }
  get expiresAtMs(): number {
    return this.expiresAt;
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

/** Matches a string that is not all ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Heap bytes of a kept string: a 16-byte header and its characters (one byte each when
 * all are ASCII, else two, to be safe), rounded up to 8.
 */
function stringCost(s: string): number {
  const n = s.length;
  let wide = 1;
  if (n < 32) {
    // Short strings (most keys and values): a loop costs less than a regular expression.
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        wide = 2;
        break;
      }
    }
  } else if (NON_ASCII.test(s)) wide = 2;
  return (16 + wide * n + 7) & ~7;
}

/**
 * `s`, or a copy of it that shares no memory with anything the caller holds. V8 may keep
 * a string of 13 or more characters as a slice of a larger one (which a kept slice would
 * keep alive whole) or as a rope of many pieces; a shorter one is always its own flat
 * copy. The copy is one flat string: the concatenation is flattened at once (as
 * `charCodeAt` does) and the pieces and the slice are dropped.
 */
export function fresh(s: string): string {
  if (s.length < 13) return s;
  const copy = s.slice(0, 1) + s.slice(1);
  copy.charCodeAt(0);
  return copy;
}

/** What {@link keep} spent so far, at least the characters of the JSON text, and the bound on their difference. */
let spent = 0;
let cap = 0;
let chars = 0;
/** The tape being written, reused from record to record (its first `top` items are this one's). */
const tape: unknown[] = [];
let top = 0;
/** A tape longer than this is dropped after use rather than kept for the next record. */
const TAPE_KEPT = 4096;

/**
 * Writes a JSON value (core's private copy of the caller's metadata) onto `tape` in prefix
 * order (an object as OBJECT, its key count, then each key and value; an array as ARRAY,
 * its length, then each element; anything else as itself, strings as {@link fresh}
 * copies), so that the whole metadata is kept in one array however it nests. Adds what
 * that takes on the heap to `spent` (64-bit, pointer compression off: a slot of 8 bytes
 * an item, strings, and 16 bytes a number that is not a small integer), and to `chars`
 * the characters of the value's JSON text, counting no escapes and every number as one
 * (a lower bound). False, and the tape left unfinished, once `spent - chars` passes `cap`.
 */
function keep(v: unknown): boolean {
  if (typeof v === 'string') {
    spent += 8 + stringCost(v);
    chars += v.length + 2;
    tape[top++] = fresh(v);
    return true;
  }
  if (typeof v === 'number') {
    // A small integer is kept in its slot, any other number boxed; -0 is kept as 0, as JSON does.
    spent += (v | 0) === v && v < 0x40000000 && v >= -0x40000000 ? 8 : 24;
    chars += 1;
    tape[top++] = v === 0 ? 0 : v;
    return true;
  }
  if (typeof v !== 'object' || v === null) {
    spent += 8; // true, false, null
    chars += 4;
    tape[top++] = v;
    return true;
  }
  spent += 16;
  if (Array.isArray(v)) {
    const n = v.length;
    chars += n + 1; // brackets and commas
    tape[top++] = ARRAY;
    tape[top++] = n;
    for (let i = 0; i < n; i++) if (!keep(v[i])) return false;
    return spent - chars <= cap;
  }
  // for…in over the copy's own keys (no array of keys allocated, as Object.keys would);
  // the count goes in its slot at the end.
  chars += 1; // braces, less the comma counted below for every key
  tape[top++] = OBJECT;
  const count = top;
  tape[top++] = 0; // (written in order: a skipped slot would make the array holey)
  let n = 0;
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue; // inherited: someone extended Object.prototype
    n++;
    spent += 8 + stringCost(key); // counted in every session, though V8 shares keys
    chars += key.length + 4; // quotes, colon and comma
    tape[top++] = key; // property keys are V8's own flat strings: no copy needed
    if (!keep((v as Record<string, unknown>)[key])) return false;
  }
  tape[count] = n;
  return spent - chars <= cap;
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
 * What is kept of a validated record, and its accounted bytes. `v` comes from core's
 * checkRecord with `output: 'copy'`: its metadata is a private copy (objects and arrays
 * of its own, strings the caller's), written onto a tape with every long string a
 * {@link fresh} copy; when that would take more than twice its JSON text plus
 * {@link KEPT_ALLOWANCE} (shapes such as `[{},{},…]`), the metadata is kept as its JSON
 * text instead. transactionId and factorsUsed are kept as {@link fresh} copies too.
 */
export function stored(v: ValidRecord, maxRecordBytes: number): { s: Stored; cost: number } {
  const r = v.record;
  const factorsUsed = r.factorsUsed; // core's own copy of the array, sized exactly
  let cost = ENTRY_OVERHEAD + stringCost(r.id) + stringCost(r.transactionId) + 48;
  for (let i = 0; i < factorsUsed.length; i++) {
    const f = factorsUsed[i] as string;
    cost += 8 + stringCost(f);
    factorsUsed[i] = fresh(f);
  }
  spent = 0;
  chars = 0;
  top = 0;
  // Stop early once the metadata cannot fit whatever follows: the rest of the text, at
  // most maxRecordBytes - chars characters, can narrow spent - 2 * chars by at most one
  // byte a character (a string of n characters costs at least n + 24 for its n + 2).
  cap = maxRecordBytes + KEPT_ALLOWANCE;
  let meta: unknown;
  let metaIsText = false;
  if (keep(r.metadata) && spent <= 2 * chars + KEPT_ALLOWANCE) {
    meta = tape.slice(0, top); // an array of exactly its length
    cost += 48 + spent;
  } else {
    const text = JSON.stringify(r.metadata); // one new flat string
    meta = text;
    metaIsText = true;
    cost += stringCost(text);
  }
  if (tape.length > TAPE_KEPT) tape.length = 0;
  const s: Stored = {
    transactionId: fresh(r.transactionId),
    factorsUsed,
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
