/**
 * The record layout: the one place its offsets and widths are written. The TypeScript
 * codec (./record.ts), the Lua scripts (./scripts/, which template these numbers into
 * their source) and the benchmark (through the internal `@sessionkit/store-redis/layout`
 * subpath) all read them from here.
 *
 * A record is one string, so get is one GET and touch/extend patch a fixed header in place:
 *
 *     offset 0   expiresAt       (ms, 17 characters, space-padded)   authoritative
 *     offset 18  lastActivityAt  (ms, 17 characters)                 authoritative
 *     offset 36  createdAt       (ms, 17 characters)
 *     offset 54  core's JSON of the record as created or last updated (no raw newline)
 *     '\n' index key '\t' pointer value '\t' pointer key             (Cluster pointer fields empty otherwise)
 *
 * Each header field is followed by one space. Identifiers hold no control characters, so
 * `\n` and `\t` cannot occur inside the meta. This module imports nothing at run time.
 */

/** Characters of each header time: decimal ms, space-padded (ms below 10^17 fit). */
export const TIME_WIDTH = 17;
/** Offset of expiresAt (authoritative: touch and extend patch it in place). */
export const EXPIRES_AT = 0;
/** Offset of lastActivityAt (authoritative). */
export const LAST_ACTIVITY_AT = EXPIRES_AT + TIME_WIDTH + 1;
/** Offset of createdAt. */
export const CREATED_AT = LAST_ACTIVITY_AT + TIME_WIDTH + 1;
/** Offset of core's JSON encoding of the record: the end of the header. */
export const JSON_OFFSET = CREATED_AT + TIME_WIDTH + 1;
/** Separates the JSON from the meta (index key, pointer value, pointer key). */
export const META_SEPARATOR = '\n';
/** Separates the meta fields. */
export const META_FIELD_SEPARATOR = '\t';

/**
 * Lua's 1-based, inclusive `string.sub(v, first, last)` range of a header field at
 * `offset`: for example `luaRange(EXPIRES_AT)` is `'1, 17'`.
 */
export function luaRange(offset: number): string {
  return `${offset + 1}, ${offset + TIME_WIDTH}`;
}

/** A time as the header holds it: decimal ms, space-padded to TIME_WIDTH characters. */
export function pad(ms: number): string {
  return String(ms).padEnd(TIME_WIDTH, ' ');
}

/** The header: expiresAt, lastActivityAt and createdAt, each followed by one space. */
export function header(expiresAtMs: number, lastActivityAtMs: number, createdAtMs: number): string {
  return `${pad(expiresAtMs)} ${pad(lastActivityAtMs)} ${pad(createdAtMs)} `;
}

/** The full value create writes: header and JSON (`head`), then the meta. */
export function recordValue(head: string, indexKey: string, pointerValue = '', pointerKey = ''): string {
  return `${head}${META_SEPARATOR}${indexKey}${META_FIELD_SEPARATOR}${pointerValue}${META_FIELD_SEPARATOR}${pointerKey}`;
}

/** The JSON part of a stored value, or `undefined` when the value has no room for one. */
export function jsonOf(value: string): string | undefined {
  const end = value.lastIndexOf(META_SEPARATOR);
  return end < JSON_OFFSET ? undefined : value.slice(JSON_OFFSET, end);
}
