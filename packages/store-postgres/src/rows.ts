/**
 * The row layout: a session record as the values of a table row ($1 to $7 of the
 * statements that write one) and back from the columns the statements read.
 */
import { decodeRecord, type SessionRecord } from '@sessionkit/core';
import { STORE } from './options.js';

/** What get and listByUser read of a row. */
export interface RecordRow {
  id?: string;
  record: string;
  expires_at: string;
  last_activity_at: string;
}

/** What the error paths read of a row (probe). */
export interface ProbeRow {
  tenant_id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
}

/**
 * $1 to $7 of create and update: the row's columns in the table's order
 * (id, tenant, user, created, expires, lastActivity, record), times in ms.
 */
export function rowValues(record: SessionRecord, encoded: string): unknown[] {
  return [
    record.id,
    record.tenantId,
    record.userId,
    record.createdAt.getTime(),
    record.expiresAt.getTime(),
    record.lastActivityAt.getTime(),
    encoded,
  ];
}

/**
 * The record of a row: core's encoding from `record`, with the `expires_at` and
 * `last_activity_at` columns (which touch and extend write alone) authoritative.
 */
export function decodeRow(row: RecordRow): SessionRecord {
  const record = decodeRecord(row.record, STORE);
  record.expiresAt = new Date(Number(row.expires_at));
  record.lastActivityAt = new Date(Number(row.last_activity_at));
  return record;
}
