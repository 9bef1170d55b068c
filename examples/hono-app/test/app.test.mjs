// Drives the demo over real HTTP (@hono/node-server on 127.0.0.1), as two browsers with
// their own cookie jars: sign in, the sensitive page's step-up (the cookie rotates, the old
// one dies after the grace window), devices, sign-out of another device, sign-out.
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, DEMO_CODE } from '../src/app.mjs';

let now = Date.now();
const clock = () => now;
let server;
let base;

beforeAll(async () => {
  const { app } = createApp({ clock });
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${server.address().port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** A client with a cookie jar that follows redirects itself. */
class Browser {
  jar = new Map();
  constructor(userAgent) {
    this.userAgent = userAgent;
  }
  async go(path, form) {
    let url = new URL(path, base);
    let init = form ? { method: 'POST', body: new URLSearchParams(form) } : { method: 'GET' };
    for (let hops = 0; hops < 5; hops++) {
      const res = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { 'user-agent': this.userAgent, cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [name, value] = pair.split('=');
        if (/Max-Age=0/i.test(line)) this.jar.delete(name);
        else this.jar.set(name, value);
      }
      if (res.status !== 303) return { status: res.status, url: url.pathname, html: await res.text() };
      url = new URL(res.headers.get('location'), url);
      init = { method: 'GET' };
    }
    throw new Error('too many redirects');
  }
  get cookie() {
    return this.jar.get('__Host-session');
  }
}

describe('hono-app step-up demo over HTTP', () => {
  const laptop = new Browser('laptop');
  const phone = new Browser('phone');

  it('refuses a wrong password and signs in with the right one', async () => {
    expect((await laptop.go('/login', { user: 'ada', password: 'nope' })).status).toBe(401);
    expect(laptop.cookie).toBeUndefined();
    const home = await laptop.go('/login', { user: 'ada', password: 'lovelace' });
    expect(home.html).toContain('Hello, ada');
    expect(home.html).toContain('Assurance level 1');
    expect(laptop.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('the sensitive page asks for a second factor; a wrong code is refused; the right one rotates the cookie', async () => {
    const ask = await laptop.go('/sensitive');
    expect(ask.url).toBe('/step-up');
    expect((await laptop.go('/step-up', { code: '000000' })).status).toBe(401);
    const before = laptop.cookie;
    const sensitive = await laptop.go('/step-up', { code: DEMO_CODE });
    expect(sensitive.url).toBe('/sensitive');
    expect(sensitive.html).toContain('recovery codes');
    expect(laptop.cookie).not.toBe(before);

    // The old cookie (a request already in flight) works for 5 s at level 1, then never again.
    const stale = new Browser('laptop');
    stale.jar.set('__Host-session', before);
    now += 4_999;
    expect((await stale.go('/')).html).toContain('Assurance level 1');
    now += 1;
    expect((await stale.go('/')).html).toContain('Sign in');
    expect((await laptop.go('/sensitive')).html).toContain('recovery codes');
  });

  it('lists devices, signs out another one, then signs out', async () => {
    await phone.go('/login', { user: 'ada', password: 'lovelace' });
    const devices = await laptop.go('/devices');
    expect(devices.html.match(/class="device/g)).toHaveLength(2);
    expect(devices.html).toMatch(/class="device current">laptop, level 2/);
    expect(devices.html).toContain('phone, level 1');
    const after = await laptop.go('/devices/revoke-others', {});
    expect(after.html.match(/class="device/g)).toHaveLength(1);
    expect((await phone.go('/')).html).toContain('Sign in');
    expect((await laptop.go('/logout', {})).html).toContain('Sign in');
    expect(laptop.cookie).toBeUndefined();
  });
});
