// What the store read last for a session, kept between express-session's get and the
// touch or set that ends the same request: when it was last active (so a touch can be
// skipped), who owns it and when it began (so a set can update it, or move it when the
// user changed), and a digest of its data (so a set that changes nothing is a touch).
// Bounded: the oldest entries go first; a miss only costs a read or a create attempt.
import type { SessionRecord } from '@sessionkit/core';
import { isDigest } from './digest.js';

export interface RecentRead {
  userId: string;
  tenantId: string;
  createdAt: Date;
  lastActivityMs: number;
  /** When the record expires in the backend. */
  expiresMs: number;
  /**
   * SHA-256 of the session's data without the cookie's expiry, as stored (a record
   * carries it in its transactionId), when known: a set with the same digest writes
   * nothing while the session is fresh.
   */
  digest?: string | undefined;
}

export class RecentReads {
  private readonly entries = new Map<string, RecentRead>();

  constructor(private readonly capacity: number) {}

  get(id: string): RecentRead | undefined {
    return this.entries.get(id);
  }

  set(id: string, entry: RecentRead): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /**
   * Remembers the record a get read: a session read again has its entry refreshed in
   * place (no new object per page view) and moved to the newest end of the eviction order.
   */
  remember(id: string, record: SessionRecord): void {
    const digest = isDigest(record.transactionId) ? record.transactionId : undefined;
    const seen = this.entries.get(id) ?? ({} as RecentRead);
    seen.userId = record.userId;
    seen.tenantId = record.tenantId;
    seen.createdAt = record.createdAt;
    seen.lastActivityMs = record.lastActivityAt.getTime();
    seen.expiresMs = record.expiresAt.getTime();
    seen.digest = digest;
    this.set(id, seen);
  }

  /**
   * Records a write that just succeeded on the entry as it is now (never on a copy taken
   * before the write's await: a concurrent request may have read a newer digest, or
   * deleted the entry, meanwhile). A deleted entry stays deleted.
   */
  wrote(id: string, nowMs: number, expiresMs: number, digest?: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.lastActivityMs = Math.max(entry.lastActivityMs, nowMs);
    entry.expiresMs = expiresMs;
    if (digest !== undefined) entry.digest = digest;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
