// The expiry index: sessions in one-second buckets by expiresAt, the buckets ordered by
// a min-heap of their keys, so a sweep costs what has expired and the store's
// soonest-expiring session is found at once.
import type { Entry } from './stored.js';

/** Width of one expiry bucket: sessions are indexed by `floor(expiresAt / BUCKET_MS)`. */
const BUCKET_MS = 1000;

/** The sessions whose expiresAt lies in [key * BUCKET_MS, (key + 1) * BUCKET_MS). */
export class Bucket {
  readonly entries = new Set<Entry>();
  /** A lower bound of the entries' expiresAt (exact after a boundary scan). */
  min = Number.POSITIVE_INFINITY;
  #drain: Iterator<Entry> | undefined;

  constructor(readonly key: number) {}

  /**
   * The oldest entry, for a caller that removes it before asking again. One iterator is
   * kept across calls: a fresh `values().next()` would step over every slot deleted
   * since the Set last shrank, making a run of evictions from one bucket quadratic.
   */
  first(): Entry | undefined {
    this.#drain ??= this.entries.values();
    let next = this.#drain.next();
    if (next.done) {
      // Exhausted (only possible if entries were added after the last call): restart.
      this.#drain = this.entries.values();
      next = this.#drain.next();
    }
    return next.done ? undefined : next.value;
  }
}

/** A binary min-heap of bucket keys. Keys of removed buckets are dropped lazily. */
class KeyHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number {
    return this.#items[0] as number;
  }

  push(key: number): void {
    const items = this.#items;
    let i = items.length;
    items.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as number;
      if (p <= key) break;
      items[i] = p;
      i = parent;
    }
    items[i] = key;
  }

  /** Replaces the contents with `keys` (each once): drops every stale key at once. */
  rebuild(keys: Iterable<number>): void {
    const items = this.#items;
    items.length = 0;
    for (const key of keys) items.push(key);
    items.sort((a, b) => a - b); // a sorted array is a valid min-heap
  }

  pop(): void {
    const items = this.#items;
    const last = items.pop() as number;
    const n = items.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (items[right] as number) < (items[left] as number) ? right : left;
      const c = items[child] as number;
      if (c >= last) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
  }
}

/** Every session by expiry: one-second buckets, found in order through a heap of their keys. */
export class ExpiryIndex {
  readonly #buckets = new Map<number, Bucket>();
  readonly #keys = new KeyHeap();
  /** Sessions examined so far by sweeps. */
  examined = 0;

  /** Non-empty buckets. */
  get buckets(): number {
    return this.#buckets.size;
  }

  /** Keys in the heap, stale ones included: at most 2 × buckets + 1024. */
  get keys(): number {
    return this.#keys.size;
  }

  add(e: Entry): void {
    const key = Math.floor(e.expiresAt / BUCKET_MS);
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = new Bucket(key);
      this.#buckets.set(key, b);
      const keys = this.#keys;
      keys.push(key);
      // Keys of emptied buckets leave the heap lazily, when they reach its top. Sessions
      // moved by extend without any sweep could pile them up: past twice the live
      // buckets, rebuild it from those (amortised O(log n) per push).
      if (keys.size > 2 * this.#buckets.size + 1024) keys.rebuild(this.#buckets.keys());
    }
    b.entries.add(e);
    if (e.expiresAt < b.min) b.min = e.expiresAt;
    e.bucket = b;
  }

  delete(e: Entry): void {
    const b = e.bucket;
    if (b === null) return;
    b.entries.delete(e);
    if (b.entries.size === 0) this.#buckets.delete(b.key); // its heap key goes lazily
    e.bucket = null;
  }

  /** After `e.expiresAt` changed. */
  moved(e: Entry): void {
    const b = e.bucket;
    if (b !== null && b.key === Math.floor(e.expiresAt / BUCKET_MS)) {
      if (e.expiresAt < b.min) b.min = e.expiresAt;
      return;
    }
    this.delete(e);
    this.add(e);
  }

  /**
   * Removes (through `remove`, which must take the entry out of this index) sessions with
   * expiresAt <= now, earliest buckets first, stopping after about `limit` removals;
   * returns how many it removed. Buckets entirely in the past are removed without
   * looking at expiry; only the bucket holding `now` is scanned, and only when its lower
   * bound says something in it has expired.
   */
  sweep(now: number, limit: number, remove: (e: Entry) => void): number {
    const keys = this.#keys;
    let removed = 0;
    while (keys.size > 0 && removed < limit) {
      const key = keys.peek();
      const b = this.#buckets.get(key);
      if (b === undefined) {
        keys.pop(); // a bucket emptied earlier
        continue;
      }
      if (key * BUCKET_MS > now) break; // nothing in it or later has expired
      if ((key + 1) * BUCKET_MS - 1 <= now) {
        // Every entry of this bucket has expired.
        for (let e = b.first(); e !== undefined; e = b.first()) {
          this.examined++;
          remove(e);
          if (++removed >= limit) break;
        }
        if (b.entries.size === 0) keys.pop();
        continue;
      }
      // The bucket holding `now`: some entries may have expired.
      if (b.min > now) break;
      let min = Number.POSITIVE_INFINITY;
      for (const e of b.entries) {
        this.examined++;
        if (e.expiresAt <= now) {
          remove(e);
          removed++;
        } else if (e.expiresAt < min) min = e.expiresAt;
      }
      b.min = min;
      break;
    }
    return removed;
  }

  /** The session in the whole store that expires soonest (to the second; then the oldest in that second). */
  soonest(): Entry | undefined {
    const keys = this.#keys;
    while (keys.size > 0) {
      const b = this.#buckets.get(keys.peek());
      if (b !== undefined) return b.first();
      keys.pop();
    }
    return undefined;
  }
}
