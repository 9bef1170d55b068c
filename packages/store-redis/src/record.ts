/**
 * The record codec: a SessionRecord to and from its stored value (the layout is ./layout.ts).
 */
import { corrupt, decodeRecord, type SessionRecord } from '@sessionkit/core';
import { EXPIRES_AT, header, JSON_OFFSET, jsonOf, LAST_ACTIVITY_AT, TIME_WIDTH } from './layout.js';
import { STORE } from './options.js';

/** The value without its meta (update sends this; its script keeps the stored meta). */
export function recordHead(record: SessionRecord, json: string): string {
  return `${header(record.expiresAt.getTime(), record.lastActivityAt.getTime(), record.createdAt.getTime())}${json}`;
}

/** What a value that does not decode is: never its text (a value holds a whole record). */
const NOT_A_RECORD = 'not a sessionkit Redis record';

/** Decodes a stored value with core's codec; expiresAt and lastActivityAt come from the header. */
export function decodeValue(value: unknown, operation: string): SessionRecord {
  let json: string | undefined;
  let e: number;
  let a: number;
  if (Buffer.isBuffer(value)) {
    // GET's reply as bytes: ioredis hands a Buffer over for less work than a string
    const end = value.lastIndexOf(10);
    if (end < JSON_OFFSET || value[EXPIRES_AT + TIME_WIDTH] !== 32) throw corrupt(STORE, operation, NOT_A_RECORD);
    json = value.toString('utf8', JSON_OFFSET, end);
    e = Number(value.toString('latin1', EXPIRES_AT, EXPIRES_AT + TIME_WIDTH));
    a = Number(value.toString('latin1', LAST_ACTIVITY_AT, LAST_ACTIVITY_AT + TIME_WIDTH));
  } else {
    if (typeof value !== 'string') throw corrupt(STORE, operation, NOT_A_RECORD);
    json = jsonOf(value);
    if (json === undefined || value.charCodeAt(EXPIRES_AT + TIME_WIDTH) !== 32)
      throw corrupt(STORE, operation, NOT_A_RECORD);
    e = Number(value.slice(EXPIRES_AT, EXPIRES_AT + TIME_WIDTH));
    a = Number(value.slice(LAST_ACTIVITY_AT, LAST_ACTIVITY_AT + TIME_WIDTH));
  }
  const record = decodeRecord(json, STORE, operation);
  if (!Number.isFinite(e) || !Number.isFinite(a)) {
    throw corrupt(STORE, operation, NOT_A_RECORD);
  }
  record.expiresAt = new Date(e);
  record.lastActivityAt = new Date(a);
  return record;
}
