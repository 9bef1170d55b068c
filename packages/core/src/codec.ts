import { corrupt } from './errors.js';
import { cloneJson, jsonStringBytes } from './json.js';
import type { JsonValue, SessionRecord } from './record.js';
import type { TenantId } from './tenant.js';

/**
 * Core's one JSON encoding of a record (format version 1): the record's fields with
 * Dates as integer milliseconds since the epoch, for example
 * `{"v":1,"id":"…","userId":"u1","tenantId":"acme","transactionId":"","factorsUsed":[],
 * "assuranceLevel":1,"metadata":{},"createdAt":1764100000000,"expiresAt":…,"lastActivityAt":…}`.
 * `maxRecordBytes` counts the UTF-8 bytes of this text.
 */
export function encodeRecord(record: SessionRecord): string {
  return `{"v":1,"id":${JSON.stringify(record.id)},"userId":${JSON.stringify(record.userId)},"tenantId":${JSON.stringify(
    record.tenantId,
  )},"transactionId":${JSON.stringify(record.transactionId)},"factorsUsed":${JSON.stringify(
    record.factorsUsed,
  )},"assuranceLevel":${record.assuranceLevel},"metadata":${JSON.stringify(record.metadata)},"createdAt":${record.createdAt.getTime()},"expiresAt":${record.expiresAt.getTime()},"lastActivityAt":${record.lastActivityAt.getTime()}}`;
}

const FIXED_BYTES =
  '{"v":1,"id":,"userId":,"tenantId":,"transactionId":,"factorsUsed":,"assuranceLevel":,"metadata":,"createdAt":,"expiresAt":,"lastActivityAt":}'
    .length;

/** @internal UTF-8 bytes of `encodeRecord(record)` minus those of its metadata. */
export function recordBytesWithoutMetadata(record: SessionRecord): number {
  let factors = 2 + Math.max(0, record.factorsUsed.length - 1);
  for (const f of record.factorsUsed) factors += jsonStringBytes(f);
  return (
    FIXED_BYTES +
    jsonStringBytes(record.id) +
    jsonStringBytes(record.userId) +
    jsonStringBytes(record.tenantId) +
    jsonStringBytes(record.transactionId) +
    factors +
    String(record.assuranceLevel).length +
    String(record.createdAt.getTime()).length +
    String(record.expiresAt.getTime()).length +
    String(record.lastActivityAt.getTime()).length
  );
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const v of value) if (typeof v !== 'string') return false;
  return true;
}

/**
 * Turns {@link encodeRecord}'s text back into a record. Throws `STORAGE` (core's
 * `corrupt`: `stored data is corrupt: ...`, naming the store and the operation that read
 * it) when the text is not a version-1 record, so corrupt backend data never reaches the
 * application as a half-valid record.
 */
export function decodeRecord(text: string, store = '', operation = 'decode'): SessionRecord {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw corrupt(store, operation, 'the record is not JSON', error);
  }
  if (typeof raw !== 'object' || raw === null || raw.v !== 1) {
    throw corrupt(store, operation, 'the record has an unknown format version');
  }
  const { id, userId, tenantId, transactionId, factorsUsed, assuranceLevel, createdAt, expiresAt, lastActivityAt } =
    raw;
  if (
    typeof id !== 'string' ||
    typeof userId !== 'string' ||
    typeof tenantId !== 'string' ||
    typeof transactionId !== 'string' ||
    !isStringArray(factorsUsed) ||
    typeof assuranceLevel !== 'number' ||
    typeof createdAt !== 'number' ||
    typeof expiresAt !== 'number' ||
    typeof lastActivityAt !== 'number' ||
    !('metadata' in raw)
  ) {
    throw corrupt(store, operation, "the record's fields are missing or of the wrong type");
  }
  return {
    id,
    userId,
    tenantId: tenantId as TenantId,
    transactionId,
    factorsUsed,
    assuranceLevel,
    metadata: raw.metadata as JsonValue,
    createdAt: new Date(createdAt),
    expiresAt: new Date(expiresAt),
    lastActivityAt: new Date(lastActivityAt),
  };
}

/** A deep copy of a record: new Dates, a new factorsUsed array, a deep copy of metadata. */
export function cloneRecord(record: SessionRecord): SessionRecord {
  return {
    id: record.id,
    userId: record.userId,
    tenantId: record.tenantId,
    transactionId: record.transactionId,
    factorsUsed: record.factorsUsed.slice(),
    assuranceLevel: record.assuranceLevel,
    metadata: cloneJson(record.metadata),
    createdAt: new Date(record.createdAt.getTime()),
    expiresAt: new Date(record.expiresAt.getTime()),
    lastActivityAt: new Date(record.lastActivityAt.getTime()),
  };
}
