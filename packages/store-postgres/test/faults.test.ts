// Fault tests always start their own server: they pause (SIGSTOP) and kill (SIGKILL) it.
import { SessionError, type SessionRecord } from '@sessionkit/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../scripts/test-servers/index.mjs';
import { PostgresSessionStore } from '../src/index.js';
import { makePool, rand, record } from './helpers.js';

const TIMEOUT = 500;
/** Generous slack over operationTimeoutMs for a loaded 2-core machine. */
const SLACK = 2500;

let server: PostgresServer;
let pool: pg.Pool;
let store: PostgresSessionStore;

beforeAll(async () => {
  server = await startPostgres();
  pool = makePool(server.url, 4);
  store = new PostgresSessionStore({ pool, operationTimeoutMs: TIMEOUT });
  await store.migrate();
});

afterAll(async () => {
  server?.resume();
  await store?.close();
  await pool?.end().catch(() => {});
  await server?.stop();
});

/** Runs `op` and asserts it rejects STORAGE (with a cause) within the deadline. */
async function storageWithin(op: () => Promise<unknown>, what: string): Promise<void> {
  const started = Date.now();
  let caught: unknown;
  try {
    await op();
  } catch (error) {
    caught = error;
  }
  const elapsed = Date.now() - started;
  expect(SessionError.isInstance(caught), `${what}: expected a SessionError, got ${String(caught)}`).toBe(true);
  expect((caught as SessionError).code, `${what}: ${(caught as Error).message}`).toBe('STORAGE');
  expect((caught as SessionError).cause, `${what}: cause`).toBeDefined();
  expect(elapsed, `${what} took ${elapsed} ms`).toBeLessThan(TIMEOUT + SLACK);
}

/** Retries `op` until it succeeds (the server is coming back). */
async function eventually<T>(op: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await op();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function everyOperation(existing: SessionRecord & { id: string }): [string, () => Promise<unknown>][] {
  return [
    ['get', () => store.get(existing.id)],
    ['create', () => store.create(record(Date.now()))],
    ['touch', () => store.touch(existing.id)],
    ['extend', () => store.extend(existing.id, 60_000)],
    ['update', () => store.update({ ...existing, metadata: { v: rand() } })],
    ['delete', () => store.delete(`missing-${rand()}`)],
    ['listByUser', () => store.listByUser(existing.userId, existing.tenantId)],
    ['deleteByUser', () => store.deleteByUser(`nobody-${rand()}`, existing.tenantId)],
    ['cleanupExpired', () => store.cleanupExpired()],
  ];
}

describe('a hung server (SIGSTOP)', () => {
  it('every operation rejects STORAGE within operationTimeoutMs, and the same store works after resume', async () => {
    const input = record(Date.now());
    const existing = { ...input, id: await store.create(input) };
    // warm the pool: every connection holds prepared statements
    await Promise.all(Array.from({ length: 8 }, () => store.get(existing.id)));
    server.pause();
    try {
      // more operations at once than the pool has connections, twice: hung connections
      // must be destroyed, not handed to the next caller
      for (let wave = 0; wave < 2; wave++) {
        await Promise.all(everyOperation(existing).map(([name, op]) => storageWithin(op, `${name} (wave ${wave})`)));
      }
      expect(pool.totalCount).toBeLessThanOrEqual(4);
    } finally {
      server.resume();
    }
    await eventually(() => store.get(existing.id));
    // the pool is healthy again: a burst larger than the pool succeeds
    const ids = await Promise.all(Array.from({ length: 20 }, () => store.create(record(Date.now()))));
    for (const id of ids) expect((await store.get(id))?.id).toBe(id);
    await store.touch(existing.id);
  });
});

describe('a killed server (SIGKILL)', () => {
  it('operations reject STORAGE, a create that failed never happens later, and the same store works after restart', async () => {
    const input = record(Date.now());
    const existing = { ...input, id: await store.create(input) };
    await server.kill();
    const lost = `never-${rand()}`;
    try {
      await storageWithin(() => store.create(record(Date.now(), { id: lost })), 'create while down');
      for (const [name, op] of everyOperation(existing)) await storageWithin(op, `${name} while down`);
    } finally {
      await server.restart();
    }
    const got = await eventually(() => store.get(existing.id));
    expect(got?.id).toBe(existing.id);
    expect(await store.get(lost)).toBeNull();
    await store.touch(existing.id);
  });

  it('durability: every acknowledged create survives a SIGKILL of the server', async () => {
    const acknowledged: SessionRecord[] = [];
    const writers = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 25; i++) {
        const input = record(Date.now(), { metadata: { i, blob: 'x'.repeat(500) } });
        const id = await store.create(input);
        acknowledged.push({ ...input, id });
      }
    });
    await Promise.all(writers);
    await server.kill();
    await server.restart();
    const fresh = makePool(server.url, 4);
    try {
      const reader = new PostgresSessionStore({ pool: fresh });
      await eventually(() => reader.get('warm-up'));
      for (const input of acknowledged) {
        const got = await reader.get(input.id);
        expect(got, `session ${input.id}`).not.toBeNull();
        expect(got).toStrictEqual({ ...input, metadata: JSON.parse(JSON.stringify(input.metadata)) });
      }
      expect(acknowledged.length).toBe(400);
    } finally {
      await fresh.end();
    }
    // and the old store recovers too
    await eventually(() => store.get(acknowledged[0]!.id));
  });
});
