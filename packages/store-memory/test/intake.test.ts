// How create and update take a record in: the metadata written onto the store's tape in
// one walk over the caller's value (each property read once, strings copied so that no
// caller string is kept alive), and core's own check and copy for anything else.
import { encodeRecord } from '@sessionkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';
import { type acme, heapUsedAfterGc as heapUsed, makeRecord, rejectsWith, testClock } from './helpers.js';

const MB = 1024 * 1024;

/** A 1 MB flat string of one-byte characters, distinct for each `i` (its first 8 characters). */
function bigString(i: number): string {
  const s = `${String(i).padStart(8, '0')}${'y'.repeat(MB - 8)}`;
  s.charCodeAt(0); // flattened: slices of it point into it
  return s;
}

describe('no caller string is kept alive', () => {
  it('slices of 1 MB caller strings in every kept field do not keep the 1 MB strings alive (slices kept as they are would)', async () => {
    const n = 20;
    // The control: slices of 13 characters or more point into the string they were cut
    // from, so keeping them keeps it (if this fails, V8 no longer makes such slices and
    // the test below proves nothing).
    let before = heapUsed();
    const control: string[] = [];
    for (let i = 0; i < n; i++) control.push(bigString(i).slice(2, 20));
    expect(heapUsed() - before).toBeGreaterThan((n / 2) * MB);
    control.length = 0;

    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxBytes: Number.POSITIVE_INFINITY });
    before = heapUsed();
    for (let i = 0; i < n; i++) {
      const big = bigString(i);
      await store.create(
        makeRecord(clock.now, {
          id: big.slice(0, 43), // distinct: starts with i
          userId: big.slice(0, 20),
          tenantId: big.slice(0, 30),
          transactionId: big.slice(0, 25),
          factorsUsed: [big.slice(0, 14), 'otp'],
          metadata: { a: big.slice(1, 14), list: [big.slice(0, 300), { deep: big.slice(3, 60) }], n: i },
        }),
      );
    }
    const grown = heapUsed() - before;
    expect(store.stats().sessions).toBe(n);
    expect(grown).toBeLessThan(2 * MB); // kept slices would hold 20 MB
    const [kept] = await store.listByUser(bigString(7).slice(0, 20), bigString(7).slice(0, 30) as typeof acme);
    expect(kept?.metadata).toEqual({
      a: bigString(7).slice(1, 14),
      list: [bigString(7).slice(0, 300), { deep: bigString(7).slice(3, 60) }],
      n: 7,
    });
    expect(kept?.transactionId).toBe(bigString(7).slice(0, 25));
  });

  it('a rope of many pieces is kept as one flat copy of its characters', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxBytes: Number.POSITIVE_INFINITY });
    const count = 200;
    const before = heapUsed();
    for (let i = 0; i < count; i++) {
      let rope = `${i}:`;
      for (let k = 0; k < 200; k++) rope += `piece-${k}-`; // about 2 000 characters in 200 pieces
      await store.create(makeRecord(clock.now, { userId: `u${i}`, metadata: { rope } }));
    }
    const perSession = (heapUsed() - before) / count;
    expect(perSession).toBeLessThan(store.stats().bytes / count); // within the accounting
    expect(perSession).toBeLessThan(4000); // the rope's pieces alone take about 8 KB
  });
});

describe('the metadata walk', () => {
  it('reads each metadata property once and keeps what it read', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    let reads = 0;
    const metadata = {
      get flip(): unknown {
        reads++;
        return reads === 1 ? 'first read' : () => 'not JSON';
      },
      plain: [1, 2],
    };
    const id = await store.create(makeRecord(clock.now, { metadata: metadata as never }));
    expect(reads).toBe(1);
    expect((await store.get(id))?.metadata).toEqual({ flip: 'first read', plain: [1, 2] });
  });

  it('leaves what is not JSON to core, which names it', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const bad: [unknown, string][] = [
      [{ a: [1, { b: Number.NaN }] }, 'record.metadata.a[1].b is NaN'],
      [{ when: new Date(0) }, 'record.metadata.when is a Date instance'],
      [[1, , 3], 'record.metadata[1] is a hole'],
      [{ f: () => 1 }, 'record.metadata.f is'],
    ];
    for (const [metadata, message] of bad) {
      const error = await rejectsWith(store.create(makeRecord(clock.now, { metadata: metadata as never })), 'INVALID');
      expect(error.message).toContain(message);
      expect(error.field).toBe('record.metadata');
    }
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = { back: cycle };
    const error = await rejectsWith(store.create(makeRecord(clock.now, { metadata: cycle as never })), 'INVALID');
    expect(error.message).toContain('circular');
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = { d: deep };
    await rejectsWith(store.create(makeRecord(clock.now, { metadata: deep as never })), 'INVALID', 'record.metadata');
    expect(store.stats().sessions).toBe(0);
  });

  it('a record whose size bound passes maxRecordBytes is measured exactly: escapes that fit are kept, over it is INVALID', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, maxRecordBytes: 1024 });
    // 300 quotes: 602 bytes of JSON, bounded at six bytes a character by the walk.
    const fits = { q: '"'.repeat(300) };
    const id = await store.create(makeRecord(clock.now, { metadata: fits }));
    expect((await store.get(id))?.metadata).toEqual(fits);
    const current = await store.get(id);
    await store.update({ ...(current as NonNullable<typeof current>), metadata: { q: '\\'.repeat(300) } });
    expect((await store.get(id))?.metadata).toEqual({ q: '\\'.repeat(300) });
    await rejectsWith(store.create(makeRecord(clock.now, { metadata: { q: '"'.repeat(500) } })), 'INVALID', 'record');
    expect(store.stats().sessions).toBe(1);
  });
});

describe('inherited properties', () => {
  it('keeps own properties only, also when Object.prototype has an enumerable property or gains one during the walk', async () => {
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const proto = Object.prototype as Record<string, unknown>;
    try {
      proto.polluted = 'inherited';
      const a = await store.create(makeRecord(clock.now, { metadata: { own: { x: 1 }, list: [{ y: 2 }] } }));
      expect((await store.get(a))?.metadata).toEqual({ own: { x: 1 }, list: [{ y: 2 }] });
      expect(Object.keys((await store.get(a))?.metadata as object)).toEqual(['own', 'list']);
      delete proto.polluted;
      const metadata = {
        get first() {
          proto.late = 'inherited';
          return 1;
        },
        after: { z: 3 },
      };
      const b = await store.create(makeRecord(clock.now, { metadata: metadata as never }));
      const got = (await store.get(b))?.metadata as Record<string, unknown>;
      expect(Object.keys(got)).toEqual(['first', 'after']);
      expect(Object.keys(got.after as object)).toEqual(['z']);
    } finally {
      delete proto.polluted;
      delete proto.late;
    }
  });
});

describe('the size bound of the walk', () => {
  it('a record is taken exactly when its encoding fits maxRecordBytes, whatever characters its strings hold', async () => {
    const clock = testClock();
    const unit = fc.oneof(
      fc.constantFrom('a', '"', '\\', '\n', '\u0001', 'é', '中', '😀', '\ud800', '\udc00', '\u007f'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    const text = fc.oneof(
      fc.array(unit, { maxLength: 400, size: 'max' }).map((units) => units.join('')),
      // Nothing escaped: bounded by the widest UTF-8 of each character.
      fc
        .array(fc.constantFrom('a', 'é', '中', '\u0800', '\uffff'), { maxLength: 400, size: 'max' })
        .map((u) => u.join('')),
    );
    await fc.assert(
      fc.asyncProperty(text, fc.array(text, { maxLength: 3 }), async (s, more) => {
        const store = new MemorySessionStore({ clock: clock.read, maxRecordBytes: 1024 });
        const record = makeRecord(clock.now, { id: 'x'.repeat(43), metadata: { s, more } });
        const fits = Buffer.byteLength(encodeRecord(record), 'utf8') <= 1024;
        let taken = true;
        try {
          await store.create(record);
        } catch (error) {
          expect((error as { field?: string }).field).toBe('record');
          taken = false;
        }
        expect(taken).toBe(fits);
      }),
      { numRuns: 400 },
    );
  });
});
