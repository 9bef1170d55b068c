import { decodeRecord, SessionError, type SessionRecord } from '@sessionkit/core';

/**
 * The stored form of one record: one string, so get is one GET and touch/extend patch a
 * fixed header in place.
 *
 *     offset 0   expiresAt       (ms, 17 characters, space-padded)   authoritative
 *     offset 18  lastActivityAt  (ms, 17 characters)                 authoritative
 *     offset 36  createdAt       (ms, 17 characters)
 *     offset 54  core's JSON of the record as created or last updated (no raw newline)
 *     '\n' index key '\t' pointer value '\t' pointer key             (Cluster pointer fields empty otherwise)
 *
 * Identifiers hold no control characters, so `\n` and `\t` cannot occur inside the meta.
 */
export const JSON_OFFSET = 54;
const WIDTH = 17;

/** A time as the header holds it: decimal ms, space-padded to 17 characters. */
export function pad(ms: number): string {
  return String(ms).padEnd(WIDTH, ' ');
}

/** The value without its meta (update sends this; its script keeps the stored meta). */
export function recordHead(record: SessionRecord, json: string): string {
  return `${pad(record.expiresAt.getTime())} ${pad(record.lastActivityAt.getTime())} ${pad(record.createdAt.getTime())} ${json}`;
}

/** The full value create writes. */
export function recordValue(head: string, indexKey: string, pointerValue = '', pointerKey = ''): string {
  return `${head}\n${indexKey}\t${pointerValue}\t${pointerKey}`;
}

function corrupt(operation: string): SessionError {
  return new SessionError('STORAGE', 'stored record cannot be decoded: not a sessionkit Redis record', {
    store: 'redis',
    operation,
    cause: new Error('malformed record value'),
  });
}

/** The JSON part of a stored value. */
export function storedJson(value: string, operation: string): string {
  const end = value.lastIndexOf('\n');
  if (end < JSON_OFFSET) throw corrupt(operation);
  return value.slice(JSON_OFFSET, end);
}

/** Decodes a stored value with core's codec; expiresAt and lastActivityAt come from the header. */
export function decodeValue(value: unknown, operation: string): SessionRecord {
  if (typeof value !== 'string') throw corrupt(operation);
  const record = decodeRecord(storedJson(value, operation), 'redis');
  const e = Number(value.slice(0, WIDTH));
  const a = Number(value.slice(WIDTH + 1, 2 * WIDTH + 1));
  if (!Number.isFinite(e) || !Number.isFinite(a) || value.charCodeAt(WIDTH) !== 32) throw corrupt(operation);
  record.expiresAt = new Date(e);
  record.lastActivityAt = new Date(a);
  return record;
}
