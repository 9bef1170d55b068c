// The per-(tenant, user) index: each user's sessions in one array, put in eviction order
// (a min-heap) only once eviction asks for a user with many of them, the nested maps
// tenant → user → index (no two pairs can collide), their byte cost, and the order
// listByUser hands sessions out in.
import type { TenantId } from '@sessionkit/core';
import type { Entry } from './stored.js';
import { fresh } from './tape.js';

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
 * Up to this many sessions, a user's first-to-go session is found by a scan and their
 * array is kept in no order; past it, the array is made a heap when eviction first asks
 * and kept one while the user holds more than this.
 */
const SCANNED = 16;

/**
 * One (tenant, user) pair's sessions and the bytes they are accounted for. Most users
 * hold a handful of sessions and never reach a bound, so the array is kept in no order
 * (adding and removing a session cost O(1)) until eviction asks for the session that goes
 * first (soonest expiresAt, then earliest createdAt, then smallest id) of a user holding
 * more than {@link SCANNED}: then it becomes a binary min-heap in that order (O(n) once),
 * and stays one, at O(log n) a change, until the user is back to {@link SCANNED} or fewer
 * (a heap is an array, so dropping the order costs nothing). A user at
 * maxSessionsPerUser thus pays O(log n) a create, as before, and everyone else nothing.
 */
export class UserIndex {
  /** The user's sessions; a heap in eviction order (`heap[0]` goes first) while {@link ordered}. */
  readonly heap: Entry[] = [];
  /** Whether {@link heap} is a min-heap in eviction order. */
  ordered = false;
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
    const heap = this.heap;
    const n = heap.length;
    if (this.ordered) return heap[0];
    if (n <= SCANNED) {
      let best = heap[0];
      for (let i = 1; i < n; i++) {
        const e = heap[i] as Entry;
        if (evictsBefore(e, best as Entry)) best = e;
      }
      return best;
    }
    // Heapify bottom-up: O(n), once until the user is back to SCANNED sessions or fewer.
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#down(i);
    this.ordered = true;
    return heap[0];
  }

  add(e: Entry): void {
    e.slot = this.heap.length;
    this.heap.push(e);
    if (this.ordered) this.#up(e.slot);
  }

  delete(e: Entry): void {
    const heap = this.heap;
    const i = e.slot;
    const last = heap.pop() as Entry;
    e.slot = -1;
    if (last !== e) {
      heap[i] = last;
      last.slot = i;
      if (this.ordered) {
        this.#up(i);
        this.#down(last.slot);
      }
    }
    if (heap.length <= SCANNED) this.ordered = false;
  }

  /** After `e.expiresAt` changed. */
  moved(e: Entry): void {
    if (!this.ordered) return;
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
