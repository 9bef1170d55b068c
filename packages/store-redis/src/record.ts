/**
 * The record codec: a SessionRecord to and from its stored value (the layout is ./layout.ts).
 */
import { decodeRecord, SessionError, type SessionRecord } from '@sessionkit/core';
import { EXPIRES_AT, header, jsonOf, LAST_ACTIVITY_AT, TIME_WIDTH } from './layout.js';

/** The value without its meta (update sends this; its script keeps the stored meta). */
export function recordHead(record: SessionRecord, json: string): string {
  return `${header(record.expiresAt.getTime(), record.lastActivityAt.getTime(), record.createdAt.getTime())}${json}`;
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
  const json = jsonOf(value);
  if (json === undefined) throw corrupt(operation);
  return json;
}

/** Decodes a stored value with core's codec; expiresAt and lastActivityAt come from the header. */
export function decodeValue(value: unknown, operation: string): SessionRecord {
  if (typeof value !== 'string') throw corrupt(operation);
  const record = decodeRecord(storedJson(value, operation), 'redis');
  const e = Number(value.slice(EXPIRES_AT, EXPIRES_AT + TIME_WIDTH));
  const a = Number(value.slice(LAST_ACTIVITY_AT, LAST_ACTIVITY_AT + TIME_WIDTH));
  if (!Number.isFinite(e) || !Number.isFinite(a) || value.charCodeAt(EXPIRES_AT + TIME_WIDTH) !== 32) {
    throw corrupt(operation);
  }
  record.expiresAt = new Date(e);
  record.lastActivityAt = new Date(a);
  return record;
}
