// Reads batched per event-loop turn on a single Redis (src/get-batch.ts): concurrent gets
// answer exactly as sequential ones do and go out as one MGET when the turn ends (several
// past MAX_BATCH); a lone get is one GET; a client that disconnects before the batch is
// sent rejects every get in it with STORAGE and sends nothing; the same store reads again
// once the client is back.
import { SessionError, type SessionRecord } from '@sessionkit/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_BATCH } from '../src/get-batch.js';
import { RedisSessionStore } from '../src/index.js';
import { Clock, record } from './records.js';
import { CLIENT_OPTIONS, dropKeys, type SingleTarget, singleRedis } from './servers.js';

let single: SingleTarget;

beforeAll(async () => {
  single = await singleRedis();
});
afterAll(async () => {
  await single?.stop();
});

async function calls(client: Redis, command: string): Promise<number> {
  const text = await client.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/** A get's outcome as data: the record, null, or the error code. */
async function outcome(work: Promise<SessionRecord | null>): Promise<unknown> {
  try {
    return await work;
  } catch (error) {
    return SessionError.isInstance(error) ? error.code : error;
  }
}

/** A store on a client of its own (the test disconnects it), holding one session. */
async function ownClientStore(prefix: string): Promise<{ client: Redis; store: RedisSessionStore; id: string }> {
  const url = `redis://${single.client.options.host}:${single.client.options.port}`;
  const client = new Redis(url, { ...CLIENT_OPTIONS, lazyConnect: true });
  await client.connect();
  const store = new RedisSessionStore({ client, prefix });
  return { client, store, id: await store.create(record(new Clock())) };
}

describe('gets batched per event-loop turn', () => {
  it('concurrent gets of live, custom, missing, expired and malformed ids answer as sequential ones: one MGET', async () => {
    const clock = new Clock();
    const t = clock.t;
    const store = new RedisSessionStore({ client: single.client, prefix: 'gb-mix:', clock: clock.now });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await store.create(record(clock, { metadata: { n: i } })));
    for (let i = 0; i < 10; i++)
      ids.push(await store.create(record(clock, { id: `custom {${i}} id`, userId: `u${i}` })));
    for (let i = 0; i < 5; i++) {
      ids.push(await store.create(record(clock, { expiresAt: new Date(t + 60_000), metadata: { short: i } })));
    }
    for (let i = 0; i < 10; i++) ids.push(`missing-${i}`);
    ids.push('', 'x'.repeat(300), 'bad\u0000id');
    clock.t += 120_000; // the five short sessions have expired (still in Redis: retention)

    const sequential: unknown[] = [];
    for (const id of ids) sequential.push(await outcome(store.get(id)));
    expect(sequential.filter((o) => o === 'EXPIRED')).toHaveLength(5);
    expect(sequential.filter((o) => o === null)).toHaveLength(13);
    expect((sequential[3] as SessionRecord).metadata).toEqual({ n: 3 });

    const mgets = await calls(single.client, 'mget');
    const gets = await calls(single.client, 'get');
    const concurrent = await Promise.all(ids.map((id) => outcome(store.get(id))));
    expect(concurrent).toEqual(sequential);
    expect(await calls(single.client, 'mget')).toBe(mgets + 1);
    expect(await calls(single.client, 'get')).toBe(gets);
    // sequential gets each have a turn of their own: one GET each, no MGET
    for (const id of ids.slice(0, 3)) await store.get(id);
    expect(await calls(single.client, 'get')).toBe(gets + 3);
    expect(await calls(single.client, 'mget')).toBe(mgets + 1);
    await store.close();
    await dropKeys(single.client, 'gb-mix:');
  });

  it(`more than ${MAX_BATCH} gets in one turn go out as several MGETs and all answer`, async () => {
    const clock = new Clock();
    const store = new RedisSessionStore({ client: single.client, prefix: 'gb-many:' });
    const ids = await Promise.all(
      Array.from({ length: 2 * MAX_BATCH + 10 }, (_, i) => store.create(record(clock, { metadata: { n: i } }))),
    );
    const mgets = await calls(single.client, 'mget');
    const got = await Promise.all(ids.map((id) => store.get(id)));
    expect(got.map((r) => (r?.metadata as { n: number } | undefined)?.n)).toEqual(ids.map((_, i) => i));
    expect(got.every((r, i) => r?.id === ids[i])).toBe(true);
    expect(await calls(single.client, 'mget')).toBe(mgets + 3); // 128 + 128 + 10
    await store.close();
    await dropKeys(single.client, 'gb-many:');
  });

  it('batched gets whose operationTimeoutMs runs out before the turn ends reject STORAGE and are never sent', async () => {
    const store = new RedisSessionStore({ client: single.client, prefix: 'gb-late:', operationTimeoutMs: 50 });
    const id = await store.create(record(new Clock()));
    const gets = await calls(single.client, 'get');
    const mgets = await calls(single.client, 'mget');
    const [first, second] = await new Promise<Promise<unknown>[]>((resolve) =>
      setTimeout(() => {
        const pending = [outcome(store.get(id)), outcome(store.get(id))]; // both wait for the turn's end
        const end = performance.now() + 120;
        while (performance.now() < end); // the turn blocks past operationTimeoutMs
        resolve(pending);
      }, 0),
    );
    expect(await first).toBe('STORAGE');
    expect(await second).toBe('STORAGE');
    await new Promise((r) => setTimeout(r, 20));
    expect(await calls(single.client, 'get')).toBe(gets);
    expect(await calls(single.client, 'mget')).toBe(mgets);
    await store.close();
    await dropKeys(single.client, 'gb-late:');
  });

  it('under a test suite that fakes timers (setImmediate included), batched gets still go out and answer', async () => {
    const store = new RedisSessionStore({ client: single.client, prefix: 'gb-fake:' });
    const id = await store.create(record(new Clock()));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
    try {
      const got = await Promise.all([store.get(id), store.get(id), store.get(id)]);
      expect(got.map((r) => r?.id)).toEqual([id, id, id]);
    } finally {
      vi.useRealTimers();
    }
    await store.close();
    await dropKeys(single.client, 'gb-fake:');
  });

  it('under fake timers installed before the store loaded (a setupFiles), a lone get and a batch still answer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    try {
      vi.resetModules();
      const { RedisSessionStore: Loaded } = await import('../src/index.js');
      const store = new Loaded({ client: single.client, prefix: 'gb-fake-early:' });
      const id = await store.create(record(new Clock()));
      expect((await store.get(id))?.id).toBe(id);
      const got = await Promise.all([store.get(id), store.get(id), store.get('missing')]);
      expect(got.map((r) => r?.id ?? null)).toEqual([id, id, null]);
      await store.close();
    } finally {
      vi.useRealTimers();
    }
    await dropKeys(single.client, 'gb-fake-early:');
  });

  it('close() sends the gets still waiting for the end of the turn: a disconnect right after it loses none', async () => {
    const { client, store, id } = await ownClientStore('gb-close:');
    const pending = [store.get(id), store.get('missing')].map(outcome);
    await store.close();
    client.disconnect(); // the batch went out with close(), before this
    const [got, missing] = await Promise.all(pending);
    expect((got as SessionRecord).id).toBe(id);
    expect(missing).toBeNull();
    await dropKeys(single.client, 'gb-close:');
  });

  it('a client that disconnects before the batch goes out: every get rejects STORAGE, no MGET is sent; later gets work', async () => {
    const { client, store, id } = await ownClientStore('gb-gone:');
    const mgets = await calls(single.client, 'mget');
    const gets = await calls(single.client, 'get');
    // all four wait for the end of the turn
    const pending = [store.get(id), store.get(id), store.get(id), store.get('missing')].map(outcome);
    client.disconnect(); // in the same turn: the batch has not been sent yet
    expect(await Promise.all(pending)).toEqual(['STORAGE', 'STORAGE', 'STORAGE', 'STORAGE']);
    expect(await outcome(store.get(id))).toBe('STORAGE');
    expect(await calls(single.client, 'mget')).toBe(mgets);
    expect(await calls(single.client, 'get')).toBe(gets);

    await client.connect();
    expect((await store.get(id))?.id).toBe(id);
    await store.close();
    await dropKeys(client, 'gb-gone:');
    client.disconnect();
  });
});
