// The per-(tenant, user) index: each user's sessions in a min-heap in eviction order, the
// nested maps tenant → user → index (no two pairs can collide), their byte cost, and the
// order listByUser hands sessions out in.
import type { TenantId } from '@sessionkit/core';
import { type Entry, fresh } from './stored.js';

/** Heap bytes of one (tenant, user) index besides its two strings: the object, its Set and Map slots. */
const USER_OVERHEAD = 300;

/** Accounted bytes of a (tenant, user) index (its strings counted as two bytes a character). */
export function userCost(tenantId: string, userId: string): number {
  return USER_OVERHEAD + 2 * (tenantId.length + userId.length);
}

/** The eviction order within one user: soonest expiresAt, then earliest createdAt, then smallest id. */
function evictsBefore(a: Entry, b: Entry): boolean {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt < b.expiresAt;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt;
  return a.id < b.id;
}

/** listByUser's order: earliest createdAt, then smallest id. */
export function byCreatedThenId(a: Entry, b: Entry): number {
  const t = a.createdAt - b.createdAt;
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * One (tenant, user) pair's sessions, kept as a binary min-heap in eviction order
 * (soonest expiresAt, then earliest createdAt, then smallest id), so the session a create
 * at maxSessionsPerUser removes is at the top, and the bytes they are accounted for.
 */
export class UserIndex {
  /** The user's sessions; `heap[0]` is the one that goes first. */
  readonly heap: Entry[] = [];
  /** Sum of the entries' `cost`. */
  bytes = 0;
  constructor(
    readonly tenantId: TenantId,
    readonly userId: string,
    /** Bytes accounted for the index itself (see {@link userCost}). */
    readonly cost: number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** The session that goes first. */
  first(): Entry | undefined {
    return this.heap[0];
  }

  add(e: Entry): void {
    e.slot = this.heap.length;
    this.heap.push(e);
    this.#up(e.slot);
  }

  delete(e: Entry): void {
    const heap = this.heap;
    const i = e.slot;
    const last = heap.pop() as Entry;
    e.slot = -1;
    if (last === e) return;
    heap[i] = last;
    last.slot = i;
    this.#up(i);
    this.#down(last.slot);
  }

  /** After `e.expiresAt` changed. */
  moved(e: Entry): void {
    this.#up(e.slot);
    this.#down(e.slot);
  }

  #up(i: number): void {
    const heap = this.heap;
    const e = heap[i] as Entry;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!evictsBefore(e, p)) break;
      heap[i] = p;
      p.slot = i;
      i = parent;
    }
    heap[i] = e;
    e.slot = i;
  }

  #down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i] as Entry;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && evictsBefore(heap[right] as Entry, heap[left] as Entry) ? right : left;
      const c = heap[child] as Entry;
      if (!evictsBefore(c, e)) break;
      heap[i] = c;
      c.slot = i;
      i = child;
    }
    heap[i] = e;
    e.slot = i;
  }
}

/** Every (tenant, user) index, as nested maps tenant → user → index. */
export class UserIndexes {
  readonly #byTenant = new Map<string, Map<string, UserIndex>>();
  /** (tenant, user) pairs with at least one session. */
  count = 0;
  /** Sum of the indexes' `cost`. */
  bytes = 0;

  get(tenantId: string, userId: string): UserIndex | undefined {
    return this.#byTenant.get(tenantId)?.get(userId);
  }

  /** The index of (tenant, user), made when it has none. */
  open(tenantId: TenantId, userId: string): UserIndex {
    let byUser = this.#byTenant.get(tenantId);
    if (byUser === undefined) {
      byUser = new Map();
      this.#byTenant.set(fresh(tenantId), byUser);
    }
    let owner = byUser.get(userId);
    if (owner === undefined) {
      const user = fresh(userId);
      owner = new UserIndex(fresh(tenantId) as TenantId, user, userCost(tenantId, userId));
      byUser.set(user, owner);
      this.count++;
      this.bytes += owner.cost;
    }
    return owner;
  }

  /** Drops an index that has become empty (unless another has taken its place). */
  close(owner: UserIndex): void {
    const byUser = this.#byTenant.get(owner.tenantId);
    if (byUser === undefined || byUser.get(owner.userId) !== owner) return;
    byUser.delete(owner.userId);
    if (byUser.size === 0) this.#byTenant.delete(owner.tenantId);
    this.count--;
    this.bytes -= owner.cost;
  }
}
