// One server of three killed, or hung: its keys fail STORAGE within operationTimeoutMs,
// the others keep working, and the same store works again once it is back.
import { readdirSync, readFileSync } from 'node:fs';
import { SessionError, type SessionRecord, tenantId } from '@sessionkit/core';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedSessionStore } from '../src/index.js';
import { indexKey, sessionKey } from '../src/keys.js';
import { makeClient, type Servers, startOwn } from './helpers.js';

const HOUR = 3600_000;
const TIMEOUT_MS = 600;
/** Slack for a loaded 2-core machine: the point is "bounded", not "fast". */
const SLACK_MS = 2500;

let servers: Servers;
let n = 0;

beforeAll(async () => {
  servers = await startOwn(3);
});
afterAll(async () => {
  await servers?.stop();
});

function serverOf(client: memjs.Client, key: string): number {
  return (client as unknown as { getServer(key: string): number }).getServer(key);
}

/** A custom session id whose record lives on server `k`. */
function idOn(client: memjs.Client, prefix: string, k: number, tag: string): string {
  for (let i = 0; ; i++) if (serverOf(client, sessionKey(prefix, `${tag}-${i}`)) === k) return `${tag}-${i}`;
}

/** A user (in tenant `t`) whose index lives on server `k`. */
function userOn(client: memjs.Client, prefix: string, k: number, tag: string): string {
  for (let i = 0; ; i++) if (serverOf(client, indexKey(prefix, 't', `${tag}-${i}`)) === k) return `${tag}-${i}`;
}

function record(overrides: Partial<SessionRecord>): SessionRecord {
  const now = Date.now();
  return {
    id: '',
    userId: 'u',
    tenantId: tenantId('t'),
    transactionId: '',
    factorsUsed: [],
    assuranceLevel: 1,
    metadata: { n: 1 },
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
    lastActivityAt: new Date(now),
    ...overrides,
  };
}

/** Runs `work`, expects STORAGE, and returns how long it took. */
async function storageFailure(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let error: unknown;
  try {
    await work();
  } catch (e) {
    error = e;
  }
  const elapsed = performance.now() - start;
  expect(SessionError.hasCode(error, 'STORAGE'), `expected STORAGE, got ${String(error)}`).toBe(true);
  expect((error as SessionError).cause).toBeDefined();
  return elapsed;
}

/** True once every thread of the process is stopped (SIGSTOP is delivered asynchronously). */
function stopped(pid: number): boolean {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.every((t) => /^\d+ \(.*\) [tT] /.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')));
  } catch {
    return false;
  }
}

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('one of three servers fails', () => {
  it('killed: its keys reject STORAGE within operationTimeoutMs, others work; after restart() the same store works', async () => {
    const client = makeClient(servers.servers.join(','), 1);
    const prefix = `kill${n++}:`;
    const store = new MemcachedSessionStore({ client, prefix, operationTimeoutMs: TIMEOUT_MS });
    try {
      const [down, up] = [0, 1];
      const userUp = userOn(client, prefix, up, 'alive');
      const onDown = await store.create(
        record({ id: idOn(client, prefix, down, 'd'), userId: userOn(client, prefix, down, 'x') }),
      );
      const onUp = await store.create(record({ id: idOn(client, prefix, up, 'u'), userId: userUp }));

      await servers.started[down]?.kill();

      for (const op of [
        () => store.get(onDown),
        () => store.touch(onDown),
        () => store.extend(onDown, HOUR),
        () => store.delete(onDown),
        () => store.create(record({ id: idOn(client, prefix, down, 'new'), userId: userUp })),
      ]) {
        expect(await storageFailure(op)).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      }
      // the rest of the pool keeps working
      expect((await store.get(onUp))?.id).toBe(onUp);
      await store.touch(onUp);
      const more = await store.create(record({ id: idOn(client, prefix, 2, 'more'), userId: userUp }));
      expect((await store.listByUser(userUp, tenantId('t'))).map((r) => r.id).sort()).toEqual([more, onUp].sort());

      await servers.started[down]?.restart();

      // the same store instance works again on that server (its data is gone: memcached keeps none)
      expect(await store.get(onDown)).toBeNull();
      const back = await store.create(record({ id: idOn(client, prefix, down, 'back'), userId: userUp }));
      expect((await store.get(back))?.id).toBe(back);
      expect((await store.listByUser(userUp, tenantId('t'))).map((r) => r.id).sort()).toEqual(
        [back, more, onUp].sort(),
      );
      // the create that failed while it was down did not happen
      expect(await store.get(idOn(client, prefix, down, 'new'))).toBeNull();
    } finally {
      await store.close();
      client.close();
    }
  });

  it('hung (SIGSTOP): STORAGE within operationTimeoutMs even when memjs would wait 10 s; a create that failed does not happen', async () => {
    const client = makeClient(servers.servers.join(','), 10);
    const prefix = `hang${n++}:`;
    const store = new MemcachedSessionStore({ client, prefix, operationTimeoutMs: TIMEOUT_MS });
    const hung = servers.started[1];
    try {
      const userUp = userOn(client, prefix, 0, 'alive');
      const onHung = await store.create(record({ id: idOn(client, prefix, 1, 'h'), userId: userUp }));
      const onUp = await store.create(record({ id: idOn(client, prefix, 0, 'u'), userId: userUp }));
      const failing = idOn(client, prefix, 1, 'failed');

      hung?.pause();
      await eventually(async () => stopped(hung?.pid as number));
      expect(await storageFailure(() => store.get(onHung))).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(await storageFailure(() => store.touch(onHung))).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(await storageFailure(() => store.create(record({ id: failing, userId: userUp })))).toBeLessThan(
        TIMEOUT_MS + SLACK_MS,
      );
      // a user whose records sit on the hung server cannot be listed, but others can
      expect(await storageFailure(() => store.listByUser(userUp, tenantId('t')))).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect((await store.get(onUp))?.id).toBe(onUp);
      hung?.resume();

      // the same store works again, and the create that was rejected has been undone
      await eventually(async () => (await store.get(onHung).catch(() => null)) !== null);
      await eventually(async () => (await store.get(failing)) === null);
      expect((await store.listByUser(userUp, tenantId('t'))).map((r) => r.id).sort()).toEqual([onHung, onUp].sort());
    } finally {
      hung?.resume();
      await store.close();
      client.close();
    }
  });

  it("the server holding a user's index restarts: deleteByUser still revokes that user's sessions on the other servers", async () => {
    const client = makeClient(servers.servers.join(','), 1);
    const prefix = `lost${n++}:`;
    const store = new MemcachedSessionStore({ client, prefix, operationTimeoutMs: TIMEOUT_MS });
    try {
      const user = userOn(client, prefix, 0, 'reset');
      const ids = [
        await store.create(record({ id: idOn(client, prefix, 1, 'a'), userId: user })),
        await store.create(record({ id: idOn(client, prefix, 2, 'b'), userId: user })),
      ];
      await servers.started[0]?.kill();
      await servers.started[0]?.restart(); // the index is gone, the records are not
      await new Promise((r) => setTimeout(r, 1100)); // the revocation lands in a later second than the creates
      expect(await store.deleteByUser(user, tenantId('t'))).toBe(0);
      for (const id of ids) expect(await store.get(id)).toBeNull();
      // and logging in again works
      const again = await store.create(record({ userId: user }));
      expect((await store.get(again))?.id).toBe(again);
    } finally {
      await store.close();
      client.close();
    }
  });

  it('a client configured with failover still never moves keys to another server', async () => {
    const client = memjsWithFailover(servers.servers.join(','));
    const prefix = `fo${n++}:`;
    const store = new MemcachedSessionStore({ client, prefix, operationTimeoutMs: TIMEOUT_MS });
    try {
      const id = idOn(client, prefix, 2, 'f');
      await store.create(record({ id, userId: userOn(client, prefix, 0, 'x') }));
      await servers.started[2]?.kill();
      // a delete that "succeeded" on another server would let the session come back later
      await storageFailure(() => store.delete(id));
      await servers.started[2]?.restart();
    } finally {
      await store.close();
      client.close();
    }
  });
});

function memjsWithFailover(list: string): memjs.Client {
  return memjs.Client.create(list, { timeout: 1, retries: 2, failover: true, failoverTime: 60, logger: { log() {} } });
}
