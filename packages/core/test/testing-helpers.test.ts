// The helpers @sessionkit/core/testing exports for a store's own tests (from its entry
// module, so a helper missing from the exports fails here).
import { describe, expect, it } from 'vitest';
import { checkRecord, encodeRecord, resolveRecordRules } from '../src/index.js';
import { HOUR, MINUTE, makeRecord, SECOND, sampleMetadata, TestClock } from '../src/testing/index.js';

describe('@sessionkit/core/testing helpers', () => {
  it('TestClock starts at the real time and moves only when told', () => {
    const before = Date.now();
    const clock = new TestClock();
    const start = clock.now();
    expect(start).toBeGreaterThanOrEqual(before);
    expect(start).toBeLessThanOrEqual(Date.now());
    expect(clock.now()).toBe(start);
    expect(clock.advance(MINUTE)).toBe(start + 60_000);
    expect(clock.now()).toBe(start + 60_000);
    clock.set(5 * SECOND);
    expect(clock.now()).toBe(5000);
    const { now } = clock; // usable detached, as a store's clock option
    expect(now()).toBe(5000);
  });

  it('makeRecord builds a record core accepts, for a fresh user and tenant, with overrides', () => {
    const clock = new TestClock();
    const a = makeRecord(clock);
    const b = makeRecord(clock, { userId: 'ada', expiresAt: new Date(clock.now() + MINUTE) });
    expect(a.id).toBe('');
    expect(a.createdAt.getTime()).toBe(clock.now());
    expect(a.expiresAt.getTime()).toBe(clock.now() + HOUR);
    expect(a.lastActivityAt.getTime()).toBe(clock.now());
    expect(a.userId).not.toBe(makeRecord(clock).userId);
    expect(a.tenantId).not.toBe(makeRecord(clock).tenantId);
    expect(b.userId).toBe('ada');
    expect(b.expiresAt.getTime()).toBe(clock.now() + MINUTE);
    const rules = resolveRecordRules('helpers', { clock: clock.now });
    for (const r of [a, b]) {
      expect(() => checkRecord(rules, r, { operation: 'create', generateId: () => 'x' })).not.toThrow();
    }
  });

  it('sampleMetadata is fresh each call and survives core encoding', () => {
    const m = sampleMetadata();
    expect(m).not.toBe(sampleMetadata());
    expect(m).toEqual(sampleMetadata());
    const clock = new TestClock();
    const encoded = encodeRecord({ ...makeRecord(clock, { metadata: m }), id: 'x' });
    expect(typeof encoded).toBe('string');
    expect(Object.keys(m as object)).toContain('proto');
  });
});
