// The adapter over one backend, under express and under Fastify, over real HTTP.
import type { SessionStore } from '@sessionkit/core';
import { tenantId } from '@sessionkit/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionkitStore, type SessionkitStoreOptions } from '../src/index.js';
import { type AppOptions, type Framework, LOGIN_DATE, type RunningApp, startApp } from './apps.js';
import { type Backend, type BackendName, type Counts, counted, startBackend } from './backends.js';
import { Browser } from './http.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEFAULT = tenantId('default');

export function describeAdapter(name: BackendName): void {
  let backend: Backend;
  beforeAll(async () => {
    backend = await startBackend(name);
  }, 60_000);
  afterAll(async () => {
    await backend?.stop();
  });

  for (const framework of ['express', 'fastify'] as Framework[]) {
    describe(`${framework} over ${name}`, () => {
      const open: { app: RunningApp; raw: SessionStore }[] = [];
      afterEach(async () => {
        for (const { app, raw } of open.splice(0)) {
          await app.close();
          await raw.close();
        }
      });

      async function setup(
        app: Omit<AppOptions, 'store'> = {},
        options: Omit<SessionkitStoreOptions, 'store'> = {},
      ): Promise<{
        raw: SessionStore;
        store: SessionkitStore;
        counts: Counts;
        writes: () => number;
        running: RunningApp;
        browser: () => Browser;
      }> {
        const raw = await backend.makeStore();
        const c = counted(raw);
        const store = new SessionkitStore({ store: c.store, ...options });
        const running = await startApp(framework, { store, ...app });
        open.push({ app: running, raw });
        return { raw, store, counts: c.counts, writes: c.writes, running, browser: () => new Browser(running.url) };
      }
      const reset = (counts: Counts) => {
        for (const k of Object.keys(counts)) delete counts[k];
      };

      it('saveUninitialized: false stores nothing and sets no cookie for a session nobody changed', async () => {
        const { counts, browser } = await setup();
        const b = browser();
        const first = await b.get('/page');
        const second = await b.get('/page');
        expect(first.status).toBe(200);
        expect(b.lastSetCookies).toEqual([]);
        expect(b.jar.size).toBe(0);
        expect(second.body.sid).not.toBe(first.body.sid);
        expect(counts.create ?? 0).toBe(0);
      });

      it('login: the session round-trips with its Dates and cookie, keyed by the hash of its id', async () => {
        const { raw, store, browser } = await setup();
        const b = browser();
        const login = await b.post('/login?user=alice');
        expect(login.status).toBe(200);
        const page = await b.get('/page');
        expect(page.body).toMatchObject({
          sid: login.body.sid,
          userId: 'alice',
          loggedInAt: LOGIN_DATE.toISOString(),
          expiresIsDate: true,
          nestedAtIsDate: true,
          nested: { $date: 'not a date', list: [1, 'two', { at: LOGIN_DATE.toISOString() }] },
        });
        const sid = page.body.sid as string;
        const handle = store.handleOf(sid);
        expect(handle).not.toBe(sid);
        expect(await raw.get(sid)).toBeNull(); // no record under the live cookie's id
        const record = await raw.get(handle);
        expect(record?.userId).toBe('alice');
        expect(record?.tenantId).toBe('default');
        const listed = await store.listSessions('alice');
        expect(listed.map((s) => s.handle)).toEqual([handle]);
        expect(listed[0]?.session.loggedInAt).toEqual(LOGIN_DATE);
      });

      it('a signed-in page view costs one read and no write while the session is fresh (touchAfterMs)', async () => {
        const { counts, writes, browser } = await setup({ rolling: true });
        const b = browser();
        await b.post('/login?user=bob');
        reset(counts);
        for (let i = 0; i < 5; i++) expect((await b.get('/page')).body.userId).toBe('bob');
        expect(counts.get).toBe(5);
        expect(writes()).toBe(0);
      });

      it('resave: true: a save that changes nothing writes nothing while the session is fresh; a change is written', async () => {
        const { raw, store, counts, writes, browser } = await setup({ resave: true });
        const b = browser();
        const login = await b.post('/login?user=erin');
        reset(counts);
        for (let i = 0; i < 3; i++) expect((await b.get('/page')).body.userId).toBe('erin');
        expect(counts.get).toBe(3);
        expect(writes()).toBe(0);
        await b.post('/cart?item=pen');
        expect(writes()).toBe(1);
        const record = await raw.get(store.handleOf(login.body.sid as string));
        expect((record?.metadata as { cart?: unknown } | undefined)?.cart).toBe('pen');
      });

      it('touchAfterMs: 0 writes the expiry back on every page view', async () => {
        const { counts, writes, browser } = await setup({ rolling: true }, { touchAfterMs: 0 });
        const b = browser();
        await b.post('/login?user=carol');
        reset(counts);
        for (let i = 0; i < 3; i++) await b.get('/page');
        expect(counts.get).toBe(3);
        expect(writes()).toBe(3);
      });

      it('rolling sets the cookie on every response; without it an unchanged session sets none', async () => {
        const rolling = await setup({ rolling: true });
        const a = rolling.browser();
        await a.post('/login?user=dan');
        await a.get('/page');
        expect(a.lastSetCookies.length).toBe(1);
        const still = await setup({ rolling: false });
        const b = still.browser();
        await b.post('/login?user=dan');
        expect(b.lastSetCookies.length).toBe(1);
        await b.get('/page');
        expect(b.lastSetCookies).toEqual([]);
      });

      it('regenerate: the old session is gone and the new one holds the user', async () => {
        const { raw, store, browser } = await setup();
        const b = browser();
        const before = await b.post('/cart?item=book');
        const oldHandle = store.handleOf(before.body.sid as string);
        expect(await raw.get(oldHandle)).not.toBeNull();
        const after = await b.post('/login?user=erin&regenerate=1');
        expect(after.body.sid).not.toBe(before.body.sid);
        expect(await raw.get(oldHandle)).toBeNull();
        const listed = await store.listSessions('erin');
        expect(listed.map((s) => s.handle)).toEqual([store.handleOf(after.body.sid as string)]);
        expect((await b.get('/page')).body).toMatchObject({ userId: 'erin', cart: null });
      });

      it('login without regenerate moves the record from its own anonymous user to the user', async () => {
        const { raw, store, browser } = await setup();
        const b = browser();
        const anon = await b.post('/cart?item=pen');
        const handle = store.handleOf(anon.body.sid as string);
        expect((await raw.listByUser(`anon:${handle}`, DEFAULT)).map((r) => r.id)).toEqual([handle]);
        const login = await b.post('/login?user=frank');
        expect(login.body.sid).toBe(anon.body.sid);
        expect(await raw.listByUser(`anon:${handle}`, DEFAULT)).toEqual([]);
        expect((await store.listSessions('frank')).map((s) => s.handle)).toEqual([handle]);
        expect((await b.get('/page')).body).toMatchObject({ userId: 'frank', cart: 'pen' });
      });

      it('destroy removes the record and the next request starts over', async () => {
        const { raw, store, browser } = await setup();
        const b = browser();
        const login = await b.post('/login?user=gina');
        const cookie = [...b.jar];
        expect((await b.post('/logout')).body).toEqual({ ok: true });
        expect(await raw.get(store.handleOf(login.body.sid as string))).toBeNull();
        for (const [k, v] of cookie) b.jar.set(k, v); // replay the old cookie
        const page = await b.get('/page');
        expect(page.body.userId).toBeNull();
        expect(page.body.sid).not.toBe(login.body.sid);
      });

      it('an expired session reads as null and its cookie gets a new session', async () => {
        const { store, browser } = await setup({ maxAgeMs: 1_000 });
        const b = browser();
        const login = await b.post('/login?user=hal');
        expect((await b.get('/page')).body.userId).toBe('hal');
        await sleep(1_300); // past the cookie (and record) expiry of the last request
        const read = await new Promise<unknown[]>((resolve) =>
          store.get(login.body.sid as string, (err, sess) => resolve([err, sess])),
        );
        expect(read).toEqual([null, null]);
        const page = await b.get('/page'); // the jar still sends the old cookie
        expect(page.body.userId).toBeNull();
        expect(page.body.sid).not.toBe(login.body.sid);
      });

      it("revoking a device logs it out; another user's handle revokes nothing; revokeUser logs out everywhere", async () => {
        const { store, browser } = await setup();
        const a = browser();
        const b = browser();
        await a.post('/login?user=ivy');
        const bLogin = await b.post('/login?user=ivy');
        expect((await store.listSessions('ivy')).length).toBe(2);
        const bHandle = store.handleOf(bLogin.body.sid as string);
        expect(await store.revokeSession('mallory', bHandle)).toBe(false);
        expect(await store.revokeSession('ivy', bHandle)).toBe(true);
        expect((await b.get('/page')).body.userId).toBeNull();
        expect((await a.get('/page')).body.userId).toBe('ivy');
        expect(await store.revokeUser('ivy')).toBe(1);
        expect((await a.get('/page')).body.userId).toBeNull();
        expect(await store.listSessions('ivy')).toEqual([]);
      });
    });
  }
}
