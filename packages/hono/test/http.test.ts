// Over real HTTP on @hono/node-server (127.0.0.1, a free port): the cookie round trip, and
// fail-closed on a real Redis that is killed (500, never a signed-out or signed-in answer).
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { SessionManager } from '@sessionkit/manager';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { type RedisServer, startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, setCookieOf } from './app.js';

async function listen(app: ReturnType<typeof makeApp>) {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('sessionMiddleware over real HTTP', () => {
  it('sign in, read, step up, sign out', async () => {
    const manager = new SessionManager({ store: new MemorySessionStore() });
    // Plain HTTP on 127.0.0.1: a test client, not a browser, so the Secure cookie still travels.
    const server = await listen(makeApp(manager));
    try {
      const login = await fetch(`${server.url}/login/ada`, { method: 'POST' });
      const first = setCookieOf(login, '__Host-session');
      expect(first?.attrs).toEqual(expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Lax']));
      const cookie = (v: string) => ({ headers: { cookie: `__Host-session=${v}` } });
      expect(await (await fetch(`${server.url}/me`, cookie(first?.value as string))).json()).toMatchObject({
        user: 'ada',
        level: 1,
      });
      const up = await fetch(`${server.url}/step-up`, { method: 'POST', ...cookie(first?.value as string) });
      const second = setCookieOf(up, '__Host-session')?.value as string;
      expect(second).not.toBe(first?.value);
      expect(await (await fetch(`${server.url}/me`, cookie(second))).json()).toMatchObject({ level: 2 });
      await fetch(`${server.url}/logout`, { method: 'POST', ...cookie(second) });
      expect((await fetch(`${server.url}/me`, cookie(second))).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  describe('with Redis down', () => {
    let redis: RedisServer;
    let client: Redis;
    beforeAll(async () => {
      redis = await startRedis();
      client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
      client.on('error', () => {});
      await client.connect();
    });
    afterAll(async () => {
      client?.disconnect();
      await redis?.stop();
    });

    it('answers 500 (fail closed), not 401 and not the page', async () => {
      const store = new RedisSessionStore({ client, prefix: 'honofail:', operationTimeoutMs: 1000 });
      const server = await listen(makeApp(new SessionManager({ store })));
      try {
        const token = setCookieOf(await fetch(`${server.url}/login/ada`, { method: 'POST' }), '__Host-session')?.value;
        const headers = { cookie: `__Host-session=${token}` };
        expect((await fetch(`${server.url}/me`, { headers })).status).toBe(200);
        await redis.kill();
        const res = await fetch(`${server.url}/me`, { headers });
        expect(res.status).toBe(500);
        expect(((await res.json()) as { error: string }).error).toMatch(/STORAGE|backend|sessionkit/i);
        expect(setCookieOf(res, '__Host-session')).toBeUndefined(); // the cookie is kept for when Redis is back
      } finally {
        await server.close();
        await store.close();
      }
    });
  });
});
