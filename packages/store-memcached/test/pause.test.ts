// One server of three paused (SIGSTOP) under a mixed load with writes, for longer than
// memjs's per-request timeout but shorter than operationTimeoutMs, then resumed: once it
// answers again, every operation on it succeeds, and no acknowledged session is lost.
import { readdirSync, readFileSync } from 'node:fs';
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import type memjs from 'memjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemcachedSessionStore } from '../src/index.js';
import { sessionKey } from '../src/keys.js';
import { makeClient, type Servers, startOwn } from './helpers.js';

const HOUR = 3600_000;
const WORKERS = 32;
const USERS = 40;
/** memjs's own per-request timeout (its default): the pause outlasts it. */
const MEMJS_TIMEOUT_S = 0.5;
const PAUSE_MS = 2000;
/** Load before the pause, and after the resume. */
const BEFORE_MS = 3000;
const AFTER_MS = 5000;
/**
 * Records of about 30 KB: a listByUser of a few dozen of them is a response of a few MB,
 * which arrives in many chunks, so responses on two sockets to one server interleave.
 */
const PAD = 'x'.repeat(30_000);
/** After the resume, the paused server has this long to answer everything again. */
const RECOVERY_MS = 3000;

let servers: Servers;
beforeAll(async () => {
  servers = await startOwn(3);
});
afterAll(async () => {
  await servers?.stop();
});

function record(userId: string): SessionRecord {
  const now = Date.now();
  return {
    id: '',
    userId,
    tenantId: tenantId('t'),
    transactionId: '',
    factorsUsed: [],
    assuranceLevel: 1,
    metadata: { n: 1, pad: PAD },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
  };
}

function stopped(pid: number): boolean {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.every((t) => /^\d+ \(.*\) [tT] /.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')));
  } catch {
    return false;
  }
}

interface Failure {
  op: string;
  id: string | undefined;
  start: number;
  end: number;
  error: unknown;
}

it('a server paused for 2 s under a mixed load answers every operation again within seconds of the resume', async () => {
  const client: memjs.Client = makeClient(servers.servers.join(','), MEMJS_TIMEOUT_S);
  const prefix = `pause${process.pid}:`;
  const store = new MemcachedSessionStore({ client, prefix }); // default operationTimeoutMs (5000)
  const paused = servers.started[1];
  const onPaused = (id: string) =>
    (client as unknown as { getServer(key: string): number }).getServer(sessionKey(prefix, id)) === 1;
  /** Sessions whose create resolved and that nothing tried to delete. */
  const acknowledged = new Set<string>();
  const deleting = new Set<string>();
  const failures: Failure[] = [];
  let ops = 0;
  let stop = false;
  let rng = 12345;
  const random = () => {
    rng = (rng * 1103515245 + 12345) & 0x7fffffff;
    return rng / 0x80000000;
  };
  const pick = (): string | undefined => {
    if (acknowledged.size === 0) return undefined;
    const all = [...acknowledged];
    return all[Math.floor(random() * all.length)];
  };
  const timed = async (op: string, id: string | undefined, work: () => Promise<unknown>) => {
    const start = performance.now();
    ops++;
    try {
      await work();
    } catch (error) {
      // NOT_FOUND is the answer when another worker deleted that session meanwhile.
      if (SessionError.hasCode(error, 'NOT_FOUND') && id !== undefined && deleting.has(id)) return;
      failures.push({ op, id, start, end: performance.now(), error });
    }
  };
  const worker = async () => {
    while (!stop) {
      const r = random();
      const user = `user-${Math.floor(random() * USERS)}`;
      const id = pick();
      if (r < 0.3 || id === undefined) {
        await timed('create', undefined, async () => acknowledged.add(await store.create(record(user))));
      } else if (r < 0.6) {
        await timed('get', id, () => store.get(id));
      } else if (r < 0.7) {
        await timed('touch', id, () => store.touch(id));
      } else if (r < 0.78) {
        await timed('extend', id, () => store.extend(id, HOUR));
      } else if (r < 0.88) {
        acknowledged.delete(id);
        deleting.add(id);
        await timed('delete', id, () => store.delete(id));
      } else {
        await timed('listByUser', undefined, () => store.listByUser(user, tenantId('t')));
      }
    }
  };
  try {
    const load = Array.from({ length: WORKERS }, worker);
    await new Promise((r) => setTimeout(r, BEFORE_MS));
    const pauseAt = performance.now();
    paused?.pause();
    while (!stopped(paused?.pid as number)) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const resumeAt = performance.now();
    paused?.resume();
    await new Promise((r) => setTimeout(r, AFTER_MS));
    stop = true;
    await Promise.all(load);

    // No operation that started after the recovery window (or ended before the pause) failed.
    const outside = failures.filter((f) => f.end < pauseAt || f.start > resumeAt + RECOVERY_MS);
    expect(
      outside.map((f) => `${f.op} at +${Math.round(f.start - resumeAt)} ms: ${String(f.error)}`).slice(0, 10),
    ).toEqual([]);
    for (const f of failures) expect(SessionError.hasCode(f.error, 'STORAGE'), String(f.error)).toBe(true);
    expect(ops).toBeGreaterThan(1000);

    // Then every acknowledged session reads back, one after another; those on the paused server included.
    const ids = [...acknowledged];
    expect(ids.filter(onPaused).length).toBeGreaterThan(20);
    const missing: string[] = [];
    const failed: string[] = [];
    for (const id of ids) {
      try {
        if ((await store.get(id)) === null) missing.push(id);
      } catch (error) {
        failed.push(`${onPaused(id) ? 'paused server' : 'other server'}: ${String(error)}`);
      }
    }
    expect(failed.slice(0, 5)).toEqual([]);
    expect(missing).toEqual([]);
  } finally {
    stop = true;
    paused?.resume();
    await store.close();
    client.close();
  }
}, 60_000);
