import { SessionError } from '@sessionkit/core';
import { SessionManager } from '@sessionkit/manager';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { describe, expect, it } from 'vitest';
import { sessionMiddleware } from '../src/index.js';
import { makeApp, setCookieOf } from './app.js';

function setup(cookie?: Parameters<typeof makeApp>[1]) {
  let now = Date.now();
  const clock = Object.assign(() => now, { advance: (ms: number) => (now += ms) });
  const store = new MemorySessionStore({ clock });
  const manager = new SessionManager({ store, clock });
  return { clock, manager, app: makeApp(manager, cookie) };
}

const NAME = '__Host-session';
const send = (cookie: string) => ({ headers: { cookie: `${NAME}=${cookie}` } });

describe('sessionMiddleware with app.request()', () => {
  it('sign-in sets an HttpOnly, Secure, SameSite=Lax __Host- cookie that the next request reads', async () => {
    const { app } = setup();
    const res = await app.request('/login/ada', { method: 'POST' });
    expect(res.status).toBe(200);
    const cookie = setCookieOf(res, NAME);
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie?.attrs).toEqual(
      expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/', 'Max-Age=43200']),
    );
    expect(cookie?.attrs.some((a) => a.startsWith('Domain'))).toBe(false);
    const me = await app.request('/me', send(cookie?.value as string));
    expect(await me.json()).toEqual({ user: 'ada', level: 1, rotated: false });
    expect((await app.request('/me')).status).toBe(401);
  });

  it('step-up rotates the cookie; the old one works for the grace window only', async () => {
    const { app, clock } = setup();
    const old = setCookieOf(await app.request('/login/ada', { method: 'POST' }), NAME)?.value as string;
    const res = await app.request('/step-up', { method: 'POST', ...send(old) });
    expect(await res.json()).toEqual({ level: 2 });
    const fresh = setCookieOf(res, NAME)?.value as string;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(old);
    expect(await (await app.request('/me', send(fresh))).json()).toMatchObject({ level: 2 });
    clock.advance(4_999);
    expect(await (await app.request('/me', send(old))).json()).toMatchObject({ level: 1, rotated: true });
    clock.advance(1);
    const late = await app.request('/me', send(old));
    expect(late.status).toBe(401);
    expect(setCookieOf(late, NAME)?.attrs).toContain('Max-Age=0'); // a dead cookie is cleared
    expect((await app.request('/me', send(fresh))).status).toBe(200);
  });

  it('sign-out revokes the session and clears the cookie; a replayed token is refused', async () => {
    const { app } = setup();
    const token = setCookieOf(await app.request('/login/ada', { method: 'POST' }), NAME)?.value as string;
    const res = await app.request('/logout', { method: 'POST', ...send(token) });
    expect(setCookieOf(res, NAME)?.attrs).toContain('Max-Age=0');
    expect((await app.request('/me', send(token))).status).toBe(401);
  });

  it('sign-out with the old cookie inside the grace window also ends the cookie that replaced it', async () => {
    const { app } = setup();
    const old = setCookieOf(await app.request('/login/ada', { method: 'POST' }), NAME)?.value as string;
    const fresh = setCookieOf(await app.request('/step-up', { method: 'POST', ...send(old) }), NAME)?.value as string;
    expect(await (await app.request('/me', send(old))).json()).toMatchObject({ rotated: true });
    await app.request('/logout', { method: 'POST', ...send(old) }); // e.g. another tab still holds the old cookie
    expect((await app.request('/me', send(fresh))).status).toBe(401);
    expect((await app.request('/me', send(old))).status).toBe(401);
  });

  it('two step-up requests with the same cookie at once: one gets the new cookie, the other 401', async () => {
    const { app } = setup();
    const old = setCookieOf(await app.request('/login/ada', { method: 'POST' }), NAME)?.value as string;
    const results = await Promise.all([
      app.request('/step-up', { method: 'POST', ...send(old) }),
      app.request('/step-up', { method: 'POST', ...send(old) }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const fresh = setCookieOf(results.find((r) => r.status === 200) as Response, NAME)?.value as string;
    expect(await (await app.request('/me', send(fresh))).json()).toMatchObject({ level: 2, rotated: false });
  });

  it('signing in again replaces the session (no fixation: the old token stops working)', async () => {
    const { app } = setup();
    const first = setCookieOf(await app.request('/login/ada', { method: 'POST' }), NAME)?.value as string;
    const second = setCookieOf(await app.request('/login/ada', { method: 'POST', ...send(first) }), NAME)?.value;
    expect(second).not.toBe(first);
    expect((await app.request('/me', send(first))).status).toBe(401);
    expect((await app.request('/me', send(second as string))).status).toBe(200);
  });

  it('every cookie attribute can be overridden; no __Host- prefix when not secure', async () => {
    const { app } = setup({ name: 'sid', secure: false, sameSite: 'Strict', httpOnly: false, maxAge: null });
    const res = await app.request('/login/ada', { method: 'POST' });
    const cookie = setCookieOf(res, 'sid');
    expect(cookie?.attrs).toEqual(expect.arrayContaining(['SameSite=Strict', 'Path=/']));
    expect(cookie?.attrs).not.toContain('Secure');
    expect(cookie?.attrs).not.toContain('HttpOnly');
    expect(cookie?.attrs.some((a) => a.startsWith('Max-Age'))).toBe(false);
    const me = await app.request('/me', { headers: { cookie: `sid=${cookie?.value}` } });
    expect(me.status).toBe(200);
  });

  it('rejects bad cookie options INVALID naming them', () => {
    const { manager } = setup();
    for (const [cookie, field] of [
      [{ name: 'a b' }, 'cookie.name'],
      [{ sameSite: 'None', secure: false }, 'cookie.sameSite'],
      [{ hostPrefix: true, domain: 'example.com' }, 'cookie.hostPrefix'],
      [{ maxAge: 0 }, 'cookie.maxAge'],
    ] as const) {
      let error: unknown;
      try {
        sessionMiddleware({ manager, cookie: cookie as never });
      } catch (e) {
        error = e;
      }
      expect(SessionError.hasCode(error, 'INVALID') && (error as SessionError).field).toBe(field);
    }
  });
});
