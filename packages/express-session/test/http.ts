// A tiny browser stand-in over real HTTP: fetch with a cookie jar. The jar keeps every
// cookie it is given and ignores expiry, so a test can replay a cookie the server has
// expired and see what the server does with it.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class Browser {
  readonly jar = new Map<string, string>();
  /** Set-Cookie headers of the last response. */
  lastSetCookies: string[] = [];

  constructor(readonly base: string) {}

  async request(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: cookie ? { cookie } : {},
      redirect: 'manual',
    });
    this.lastSetCookies = res.headers.getSetCookie();
    for (const line of this.lastSetCookies) {
      const [pair] = line.split(';');
      const eq = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  post(path: string) {
    return this.request('POST', path);
  }
}

export function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
