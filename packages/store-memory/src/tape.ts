// The tape: kept metadata as values on one flat array in prefix order, written in one walk
// over the caller's metadata (or core's checked copy of it) that also keeps to what core
// accepts as JSON, copies long strings, and adds up what the tape takes on the heap and a
// bound of the JSON text's size; read back by a copy. Also the heap cost of a kept string
// and the copy that keeps no caller memory alive.
import { type JsonValue, MAX_JSON_DEPTH } from '@sessionkit/core';

/** On a tape (see {@link keep}), an object follows: its key count, then each key and value. */
const OBJECT = Object.freeze({});
/** On a tape, an array follows: its length, then each element. */
const ARRAY = Object.freeze({});

/** Matches a character that is not ASCII, or that JSON escapes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the characters JSON escapes is the point
const NOT_PLAIN = /[\u0000-\u001f"\\\u0080-\uffff]/;
/** Matches a string that is not all ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;
/** Matches a character JSON may write as an escape (a surrogate, in case it is a lone one). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the characters JSON escapes is the point
const ESCAPED = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** Set by {@link stringCost}: an upper bound of the UTF-8 bytes of the string's JSON text, quotes included. */
let textBytes = 0;

/**
 * Heap bytes of a kept string: a 16-byte header and its characters (one byte each when
 * all are ASCII, else two, to be safe), rounded up to 8. Sets {@link textBytes}: its JSON
 * size, exact when every character is ASCII and written as itself, else three bytes a
 * character (UTF-8 of a character below U+10000) or, with a character JSON may escape,
 * six (`\u0001`).
 */
export function stringCost(s: string): number {
  const n = s.length;
  let wide = false;
  let escaped = false;
  if (n < 32) {
    // Short strings (most keys and values): a loop costs less than a regular expression.
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) escaped = true;
      if (c > 0x7f) wide = true;
    }
  } else if (NOT_PLAIN.test(s)) {
    wide = NON_ASCII.test(s);
    escaped = ESCAPED.test(s);
  }
  textBytes = escaped ? 6 * n + 2 : wide ? 3 * n + 2 : n + 2;
  return (16 + (wide ? 2 : 1) * n + 7) & ~7;
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
/** An upper bound of the UTF-8 bytes of the JSON text of what {@link keep} walked (core's bound). */
let json = 0;
/** Set by {@link keep} when it met something core does not take as JSON (core's check then names it). */
let foreign = false;
/** Whether Object.prototype has an enumerable property (for…in then lists it for every object). */
let extended = false;

function prototypeExtended(): boolean {
  for (const _ in Object.prototype) return true;
  return false;
}
/** The tape being written, reused from record to record (its first `top` items are this one's). */
const tape: unknown[] = [];
let top = 0;
/** A tape longer than this is dropped after use rather than kept for the next record. */
const TAPE_KEPT = 4096;

/**
 * Writes a JSON value onto `tape` in prefix order (an object as OBJECT, its key count,
 * then each key and value; an array as ARRAY, its length, then each element; anything
 * else as itself, strings as {@link fresh} copies), so that the whole metadata is kept in
 * one array however it nests. Reads every property once and keeps what it read. Adds what
 * that takes on the heap to `spent` (64-bit, pointer compression off: a slot of 8 bytes
 * an item, strings, and 16 bytes a number that is not a small integer), to `chars` the
 * characters of the value's JSON text, counting no escapes and every number as one (a
 * lower bound), and to `json` an upper bound of its UTF-8 bytes. False, and the tape left
 * unfinished, once `spent - chars` passes `cap`, or with `foreign` set at anything core's
 * JSON check would reject (a non-finite number, undefined, a function, a non-plain
 * object, a hole, nesting deeper than core allows, which a cycle also reaches).
 */
function keep(v: unknown, depth: number): boolean {
  if (typeof v === 'string') {
    spent += 8 + stringCost(v);
    json += textBytes;
    chars += v.length + 2;
    tape[top++] = fresh(v);
    return true;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      foreign = true;
      return false;
    }
    // A small integer is kept in its slot, any other number boxed; -0 is kept as 0, as JSON does.
    if ((v | 0) === v && v < 0x40000000 && v >= -0x40000000) {
      spent += 8;
      json += 11; // "-1073741824" at most
    } else {
      spent += 24;
      json += 25; // the longest String() of a double
    }
    chars += 1;
    tape[top++] = v === 0 ? 0 : v;
    return true;
  }
  if (typeof v === 'boolean' || v === null) {
    spent += 8;
    json += 5;
    chars += 4;
    tape[top++] = v;
    return true;
  }
  if (typeof v !== 'object' || depth >= MAX_JSON_DEPTH) {
    foreign = true;
    return false;
  }
  spent += 16;
  if (Array.isArray(v)) {
    const n = v.length;
    chars += n + 1; // brackets and commas
    json += n + 2;
    tape[top++] = ARRAY;
    tape[top++] = n;
    for (let i = 0; i < n; i++) if (!keep(v[i], depth + 1)) return false; // a hole reads undefined
    return spent - chars <= cap;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    foreign = true;
    return false;
  }
  // for…in over the own keys (no array of keys allocated, as Object.keys would); the
  // count goes in its slot at the end.
  chars += 1; // braces, less the comma counted below for every key
  json += 2;
  tape[top++] = OBJECT;
  const count = top;
  tape[top++] = 0; // (written in order: a skipped slot would make the array holey)
  let n = 0;
  for (const key in v) {
    if (extended && !Object.hasOwn(v, key)) continue; // inherited: someone extended Object.prototype
    n++;
    spent += 8 + stringCost(key); // counted in every session, though V8 shares keys
    json += textBytes + 2; // colon and comma
    chars += key.length + 4; // quotes, colon and comma
    tape[top++] = key; // property keys are V8's own flat strings: no copy needed
    if (!keep((v as Record<string, unknown>)[key], depth + 1)) return false;
  }
  tape[count] = n;
  return spent - chars <= cap;
}

/** What {@link writeTape} found. */
export enum Tape {
  /** Written: {@link tapeCost}, {@link tapeJsonBytes} and {@link takeTape} describe it. */
  Kept,
  /** The values would take more than twice the text plus `allowance`: keep the text. */
  Text,
  /** Not JSON as core takes it (or a getter threw): let core's check name the problem. */
  Foreign,
}

/**
 * Writes `value` onto the tape and says whether it is kept as values: when that takes at
 * most `2 × chars + allowance` bytes (chars: a lower bound of its JSON text's characters).
 * Stops early once it cannot fit whatever follows: the rest of the text, at most
 * `maxRecordBytes - chars` characters, can narrow `spent - 2 × chars` by at most one byte
 * a character (a string of n characters costs at least n + 24 for its n + 2).
 */
export function writeTape(value: unknown, maxRecordBytes: number, allowance: number): Tape {
  spent = 0;
  chars = 0;
  json = 0;
  top = 0;
  foreign = false;
  extended = prototypeExtended();
  cap = maxRecordBytes + allowance;
  let kept: boolean;
  try {
    kept = keep(value, 0);
  } catch {
    foreign = true; // a getter or proxy trap threw: core's walk reads it again and reports it
    kept = false;
  }
  // A getter that extended Object.prototype during the walk: core's copy takes own keys only.
  if (!extended && prototypeExtended()) foreign = true;
  if (!foreign && kept && spent <= 2 * chars + allowance) return Tape.Kept;
  if (tape.length > TAPE_KEPT) tape.length = 0;
  return foreign ? Tape.Foreign : Tape.Text;
}

/** Heap bytes of the tape written last, the array included. */
export function tapeCost(): number {
  return 48 + spent;
}

/** An upper bound of the UTF-8 bytes of the JSON text of the value written last. */
export function tapeJsonBytes(): number {
  return json;
}

/** The tape written last, as an array of exactly its length. */
export function takeTape(): unknown[] {
  const out = tape.slice(0, top);
  if (tape.length > TAPE_KEPT) tape.length = 0;
  return out;
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
export function copyKept(t: unknown): JsonValue {
  at = 0;
  return unkeep(t as readonly unknown[]);
}
