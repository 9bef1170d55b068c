// The session table: the id map and the two indexes (per user, by expiry) kept in step,
// with the bytes accounted for everything held. Every change to what is stored goes
// through insert, remove and setExpiry here.
import type { TenantId } from '@sessionkit/core';
import { ExpiryIndex } from './expiry-index.js';
import { Entry, type Stored } from './stored.js';
import { UserIndexes } from './user-index.js';

export class SessionTable {
  readonly sessions = new Map<string, Entry>();
  readonly users = new UserIndexes();
  readonly expiry = new ExpiryIndex();
  /** Sum of the entries' cost. */
  entryBytes = 0;

  /** Bytes accounted for the sessions and user indexes held. */
  bytes(): number {
    return this.entryBytes + this.users.bytes;
  }

  insert(
    id: string,
    tenantId: TenantId,
    userId: string,
    s: Stored,
    cost: number,
    createdAt: number,
    expiresAt: number,
    lastActivityAt: number,
  ): void {
    const owner = this.users.open(tenantId, userId);
    const e = new Entry(id, owner, s, cost, createdAt, expiresAt, lastActivityAt);
    this.sessions.set(id, e);
    owner.add(e);
    owner.bytes += cost;
    this.entryBytes += cost;
    this.expiry.add(e);
  }

  /** Removes `e` from the map and both indexes; nothing when it is no longer held. */
  remove(e: Entry): void {
    if (this.sessions.get(e.id) !== e) return; // already removed
    this.sessions.delete(e.id);
    this.expiry.delete(e);
    const owner = e.owner;
    owner.delete(e);
    owner.bytes -= e.cost;
    this.entryBytes -= e.cost;
    if (owner.size === 0) this.users.close(owner);
  }

  /** Replaces a held entry's stored fields and cost (an update that fits). */
  restore(e: Entry, s: Stored, cost: number): void {
    const grows = cost - e.cost;
    e.set(s);
    e.cost = cost;
    e.owner.bytes += grows;
    this.entryBytes += grows;
  }

  setExpiry(e: Entry, expiresAt: number): void {
    e.expiresAt = expiresAt;
    e.owner.moved(e);
    this.expiry.moved(e);
  }

  /** Removes up to about `limit` expired sessions (see {@link ExpiryIndex.sweep}); returns how many. */
  sweep(now: number, limit: number): number {
    return this.expiry.sweep(now, limit, (e) => this.remove(e));
  }
}
