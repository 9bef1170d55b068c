// The record layout is written once (src/layout.ts): the Lua scripts use exactly its
// offsets, and a record written and patched by the scripts reads back through its
// constants.
import { tenantId } from '@sessionkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import {
  CREATED_AT,
  EXPIRES_AT,
  header,
  JSON_OFFSET,
  jsonOf,
  LAST_ACTIVITY_AT,
  pad,
  recordValue,
  TIME_WIDTH,
} from '../src/layout.js';
import * as scripts from '../src/scripts/index.js';
import { Clock, HOUR, record } from './records.js';
import { dropKeys, type SingleTarget, singleRedis } from './servers.js';

const HEADER_FIELDS = [EXPIRES_AT, LAST_ACTIVITY_AT, CREATED_AT];
const sources = Object.values(scripts)
  .filter((s): s is scripts.Script => typeof s === 'object' && s !== null && 'source' in s)
  .map((s) => [s.name, s.source] as const);

/** Every match of `pattern` in every script, as [script name, numbers captured]. */
function numbersIn(pattern: RegExp): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const [name, source] of sources) {
    for (const m of source.matchAll(pattern)) out.push([name, m.slice(1).map(Number)]);
  }
  return out;
}

describe('the record layout', () => {
  it('is one header of three times, each followed by a space, then the JSON', () => {
    expect(LAST_ACTIVITY_AT).toBe(EXPIRES_AT + TIME_WIDTH + 1);
    expect(CREATED_AT).toBe(LAST_ACTIVITY_AT + TIME_WIDTH + 1);
    expect(JSON_OFFSET).toBe(CREATED_AT + TIME_WIDTH + 1);
    const head = header(1, 22, 333);
    expect(head).toHaveLength(JSON_OFFSET);
    expect(head.slice(LAST_ACTIVITY_AT, LAST_ACTIVITY_AT + TIME_WIDTH).trim()).toBe('22');
    expect(jsonOf(recordValue(`${head}{"a":1}`, 'index'))).toBe('{"a":1}');
    expect(jsonOf(`${head.slice(1)}\n`), 'a value too short to hold a header').toBeUndefined();
  });

  it('is the only one the Lua scripts use: every offset in their source is one of its fields', () => {
    // string.sub(v, first, last): 1-based, inclusive ranges of header fields.
    const subs = numbersIn(/string\.sub\(\w+, (\d+), (\d+)\)/g);
    expect(subs.length, 'the scripts read header fields with string.sub').toBeGreaterThan(3);
    for (const [name, [first, last]] of subs) {
      expect(HEADER_FIELDS, `${name}: string.sub from ${first}`).toContain((first as number) - 1);
      expect((last as number) - (first as number) + 1, `${name}: string.sub width`).toBe(TIME_WIDTH);
    }
    // GETRANGE key start end (0-based, inclusive) and SETRANGE key offset value.
    const getranges = numbersIn(/'GETRANGE', KEYS\[1\], (\d+), (\d+)\)/g);
    expect(getranges.map(([name]) => name)).toEqual(['touch']);
    for (const [name, [from, to]] of getranges) {
      expect([name, from, (to as number) - (from as number) + 1]).toEqual([name, EXPIRES_AT, TIME_WIDTH]);
    }
    const setranges = numbersIn(/'SETRANGE', KEYS\[1\], (\d+),/g);
    expect(new Map(setranges.map(([name, [at]]) => [name, at]))).toEqual(
      new Map([
        ['touch', LAST_ACTIVITY_AT],
        ['extend', EXPIRES_AT],
      ]),
    );
    // The search for the end of the JSON starts past the header, and times pad to the width.
    const finds = numbersIn(/string\.find\(v, '\\n', (\d+), true\)/g);
    expect(finds.length).toBeGreaterThan(0);
    for (const [name, [from]] of finds) expect(from, name).toBe(JSON_OFFSET + 1);
    const pads = numbersIn(/'%-(\d+)s'/g);
    expect(pads.length).toBeGreaterThan(0);
    for (const [name, [width]] of pads) expect(width, name).toBe(TIME_WIDTH);
  });

  describe('on a real Redis', () => {
    let single: SingleTarget;
    beforeAll(async () => {
      single = await singleRedis();
    });
    afterAll(async () => {
      await single?.stop();
    });

    it('a record written by create and patched by touch and extend reads back through the layout constants', async () => {
      const clock = new Clock();
      const prefix = 'record-layout:';
      const store = new RedisSessionStore({ client: single.client, prefix, clock: clock.now });
      const created = clock.t;
      const id = await store.create(record(clock, { userId: 'layout', tenantId: tenantId('t') }));
      const key = new KeyLayout(prefix).record(id);
      const field = (value: string, at: number) => Number(value.slice(at, at + TIME_WIDTH));
      let value = (await single.client.get(key)) as string;
      expect(field(value, EXPIRES_AT)).toBe(created + HOUR);
      expect(field(value, LAST_ACTIVITY_AT)).toBe(created);
      expect(field(value, CREATED_AT)).toBe(created);
      expect(JSON.parse(jsonOf(value) as string)).toMatchObject({ id, userId: 'layout' });

      clock.t += 1000;
      await store.touch(id);
      value = (await single.client.get(key)) as string;
      expect(value.slice(LAST_ACTIVITY_AT, LAST_ACTIVITY_AT + TIME_WIDTH), 'touch wrote lastActivityAt').toBe(
        pad(clock.t),
      );
      expect(field(value, EXPIRES_AT)).toBe(created + HOUR);

      clock.t += 1000;
      await store.extend(id, 2 * HOUR);
      value = (await single.client.get(key)) as string;
      expect(field(value, EXPIRES_AT), 'extend wrote expiresAt').toBe(clock.t + 2 * HOUR);
      expect(field(value, LAST_ACTIVITY_AT), 'and lastActivityAt').toBe(clock.t);
      expect(field(value, CREATED_AT), 'createdAt never moves').toBe(created);
      expect(await store.get(id)).toMatchObject({
        expiresAt: new Date(clock.t + 2 * HOUR),
        lastActivityAt: new Date(clock.t),
        createdAt: new Date(created),
      });
      await dropKeys(single.client, prefix);
    });
  });
});
