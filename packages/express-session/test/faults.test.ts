// A backend that hangs or is down reaches the framework's error handler as the
// SessionError (STORAGE), in bounded time, and the same app works again once it is back.
// These start their own Redis (they pause and kill it), and run with the ioredis client
// as the README sets it up (its defaults) and with enableAutoPipelining.
import { SessionError } from '@sessionkit/core';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { type RedisServer, startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionkitStore } from '../src/index.js';
import { type Framework, type RunningApp, startApp } from './apps.js';
import { Browser } from './http.js';

const TIMEOUT_MS = 300;

const CASES = (['express', 'fastify'] as Framework[]).flatMap((framework) =>
  [false, true].map((autoPipelining) => ({ framework, autoPipelining })),
);

describe.each(CASES)(
  'backend failures under $framework (enableAutoPipelining: $autoPipelining)',
  ({ framework, autoPipelining }) => {
    let server: RedisServer;
    let client: Redis;
    beforeAll(async () => {
      server = await startRedis();
      client = new Redis(server.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        lazyConnect: true,
        enableAutoPipelining: autoPipelining,
      });
      client.on('error', () => {});
      await client.connect();
    }, 60_000);
    afterAll(async () => {
      server?.resume();
      client?.disconnect();
      await server?.stop();
    });

    /** An app over a store of its own on the shared client, with the short operationTimeoutMs. */
    async function faultApp(kind: string): Promise<{ raw: RedisSessionStore; app: RunningApp }> {
      const raw = new RedisSessionStore({
        client,
        prefix: `fault-${framework}-${autoPipelining}-${kind}:`,
        operationTimeoutMs: TIMEOUT_MS,
      });
      return { raw, app: await startApp(framework, { store: new SessionkitStore({ store: raw }) }) };
    }

    it('a hung backend: the read fails with STORAGE within operationTimeoutMs, then the app recovers', async () => {
      const { raw, app } = await faultApp('hang');
      try {
        const b = new Browser(app.url);
        // express-session sends the body before its save settles: a failed login save would
        // only show in the error handler, and later as a missing session
        expect((await b.post('/login?user=ann')).status).toBe(200);
        expect(app.errors).toEqual([]);
        server.pause();
        const started = Date.now();
        const page = await b.get('/page');
        const elapsed = Date.now() - started;
        server.resume();
        expect(page.status).toBe(500);
        expect(page.body.code).toBe('STORAGE');
        expect(elapsed).toBeLessThan(TIMEOUT_MS + 4_000); // generous: shared machine
        expect(SessionError.hasCode(app.errors[0], 'STORAGE')).toBe(true);
        expect((await b.get('/page')).body.userId).toBe('ann');
      } finally {
        server.resume();
        await app.close();
        await raw.close();
      }
    });

    it('a backend that is down: a save reaches the error handler as STORAGE and the session is not lost silently', async () => {
      const { raw, app } = await faultApp('down');
      try {
        const b = new Browser(app.url);
        await b.post('/login?user=ben');
        await server.kill();
        const page = await b.get('/page');
        expect(page.status).toBe(500);
        expect(page.body.code).toBe('STORAGE');
        const before = app.errors.length;
        await b.post('/cart?item=x'); // the read fails first: nothing is written
        expect(app.errors.length).toBeGreaterThan(before);
        for (const e of app.errors) expect(SessionError.hasCode(e, 'STORAGE')).toBe(true);
        await server.restart();
        for (let i = 0; i < 50 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
        // the restarted server is empty (no persistence): the session is gone, visibly
        const after = await b.get('/page');
        expect(after.status).toBe(200);
        expect(after.body.userId).toBeNull();
      } finally {
        await app.close();
        await raw.close();
      }
    });

    it('a failing write (the first save of a new session) reaches the error handler as STORAGE', async () => {
      const { raw, app } = await faultApp('write');
      try {
        const b = new Browser(app.url);
        server.pause();
        const res = await b.post('/cart?item=y'); // no cookie: no read, only the create
        server.resume();
        // express-session saves while ending the response and hands the error to next(err)
        // after it (with the cookie already sent); Fastify answers 500 before any cookie.
        for (let i = 0; i < 40 && app.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(app.errors.length).toBe(1);
        expect(SessionError.hasCode(app.errors[0], 'STORAGE')).toBe(true);
        if (framework === 'fastify') expect(res.status).toBe(500);
      } finally {
        server.resume();
        await app.close();
        await raw.close();
      }
    });
  },
);
