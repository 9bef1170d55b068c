import { describe, expect, it } from 'vitest';
import { Deadlines } from '../src/deadlines.js';

describe('Deadlines (one timer for every in-flight statement)', () => {
  it('expires exactly the operations still pending after the timeout, each once, in order', async () => {
    const deadlines = new Deadlines(60);
    const expired: number[] = [];
    const entries = [];
    for (let i = 0; i < 3000; i++) {
      entries.push(deadlines.add(() => expired.push(i)));
      if (i % 7 !== 0) entries[i]!.done = true; // most settle at once
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const started = Date.now();
    const late = deadlines.add(() => expired.push(-1));
    await new Promise((r) => setTimeout(r, 250));
    const want = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 7 === 0);
    expect(expired).toEqual([...want, -1]);
    expect(late.done).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
  });

  it('never expires an operation before its own deadline', async () => {
    const deadlines = new Deadlines(100);
    const early = deadlines.add(() => {});
    await new Promise((r) => setTimeout(r, 60));
    let fired = false;
    const t0 = performance.now();
    let at = 0;
    deadlines.add(() => {
      fired = true;
      at = performance.now() - t0;
    });
    early.done = true;
    // the first tick (at ~100 ms, for `early`) must re-arm for this one, not expire it
    const deadline = Date.now() + 5000;
    while (!fired && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(true);
    expect(at).toBeGreaterThanOrEqual(99);
  });
});
