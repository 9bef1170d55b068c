// The per-user index on its own: the session that goes first, through adds, removals and
// moves, while the array is in no order, while it is a heap (once asked past 16 sessions)
// and across the changes between the two.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../src/stored.js';
import { UserIndex } from '../src/user-index.js';
import { acme } from './helpers.js';

/** A deterministic pseudo-random integer in [0, n). */
function prng(seed: number) {
  let x = seed >>> 0;
  return (n: number) => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    x = (x ^ (x >>> 12)) >>> 0;
    return x % n;
  };
}

type Fake = { id: string; expiresAt: number; createdAt: number; slot: number };

const goesBefore = (a: Fake, b: Fake) =>
  a.expiresAt !== b.expiresAt
    ? a.expiresAt < b.expiresAt
    : a.createdAt !== b.createdAt
      ? a.createdAt < b.createdAt
      : a.id < b.id;

describe('UserIndex', () => {
  it('first() is always the soonest-expiring, then earliest created, then smallest id, between 3 and 60 sessions', () => {
    const random = prng(7);
    const index = new UserIndex(acme, 'u', 0);
    const held: Fake[] = [];
    let seq = 0;
    let grow = true;
    let heaps = 0; // times it became a heap
    let drops = 0; // times it dropped the order
    for (let step = 0; step < 30_000; step++) {
      if (held.length >= 60) grow = false;
      if (held.length <= 3) grow = true;
      const wasHeap = index.ordered;
      const op = random(10);
      if (held.length === 0 || (grow ? op < 6 : op < 3)) {
        // Few distinct times, so ties on expiresAt and createdAt are common.
        const e: Fake = { id: `e${random(1e6)}-${seq++}`, expiresAt: random(50), createdAt: random(5), slot: -1 };
        index.add(e as unknown as Entry);
        held.push(e);
      } else if (op < 8) {
        // Remove the first to go (as eviction does) or the last in the array (as deleteByUser does).
        const e = (op === 7 ? index.heap.at(-1) : index.first()) as unknown as Fake;
        index.delete(e as unknown as Entry);
        held.splice(held.indexOf(e), 1);
      } else if (op === 8) {
        const e = held[random(held.length)] as Fake;
        index.delete(e as unknown as Entry);
        held.splice(held.indexOf(e), 1);
      } else {
        const e = held[random(held.length)] as Fake;
        e.expiresAt = random(50);
        index.moved(e as unknown as Entry);
      }
      expect(index.size).toBe(held.length);
      if (index.ordered !== wasHeap) {
        if (index.ordered) heaps++;
        else drops++;
      }
      // Asked now and then, so that the array also changes while in no order.
      if (random(4) === 0) {
        let best: Fake | undefined;
        for (const e of held) if (best === undefined || goesBefore(e, best)) best = e;
        expect(index.first() as unknown).toBe(best);
      }
    }
    // It became a heap past 16 and dropped the order at 16 or fewer many times.
    expect(heaps).toBeGreaterThan(10);
    expect(drops).toBeGreaterThan(10);
  });
});
