// The session table: the id map and the two indexes (per user, by expiry) kept in step,
// with the bytes accounted for everything held. Every change to what is stored goes
// through insert, remove and setExpiry here.
import type { TenantId } from '@sessionkit/core';
import { ExpiryIndex } from './expiry-index.js';
import { Entry, type Stored } from './stored.js';
import { type UserIndex, UserIndexes } from './user-index.js';

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

  /**
   * Adds a session. `owner` is the (tenant, user) index when the caller has it at hand (one
   * emptied since is closed and not used: a new one is opened).
   */
  insert(
    id: string,
    tenantId: TenantId,
    userId: string,
    owner: UserIndex | undefined,
    s: Stored,
    createdAt: number,
    expiresAt: number,
    lastActivityAt: number,
  ): void {
    const user = owner !== undefined && owner.size > 0 ? owner : this.users.open(tenantId, userId);
    const e = new Entry(id, user, s, createdAt, expiresAt, lastActivityAt);
    const cost = s.cost;
    this.sessions.set(id, e);
    user.add(e);
    user.bytes += cost;
    this.entryBytes += cost;
    this.expiry.add(e);
  }

  /** Removes `e` from the map and both indexes; nothing when it is no longer held. */
  remove(e: Entry): void {
    if (e.slot < 0) return; // already removed (its id may name another session by now)
    this.sessions.delete(e.id);
    this.expiry.delete(e);
    const owner = e.owner;
    owner.delete(e);
    owner.bytes -= e.cost;
    this.entryBytes -= e.cost;
    if (owner.size === 0) this.users.close(owner);
  }

  /** Replaces a held entry's stored fields and cost (an update that fits). */
  restore(e: Entry, s: Stored): void {
    const grows = s.cost - e.cost;
    e.set(s);
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
