// The app in a real browser: Debian's chromium driven by playwright-core. Two browser
// contexts are two devices of one user. Both sign in and see two sessions; device A
// revokes B, whose next page load is the sign-in page; A logs out everywhere and lands
// there too. A screenshot of the devices page goes to .test-results/devices.png.
// Chromium that cannot start fails the test (CI installs it with apt when missing).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionkitStore } from '@sessionkit/express-session';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.join(here, '..', '.test-results');
const executablePath = process.env.SESSIONKIT_CHROMIUM ?? '/usr/bin/chromium';

let server;
let base;
let browser;
let store;

beforeAll(async () => {
  store = new MemorySessionStore();
  const app = createApp({ sessionStore: new SessionkitStore({ store }), secret: 'browser test secret, long enough' });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  await store?.close();
});

async function signIn(page, user, password) {
  await page.goto(`${base}/`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/devices`), page.click('#sign-in button[type=submit]')]);
}

it('two devices: both listed, A revokes B, A logs out everywhere', async () => {
  const deviceA = await browser.newContext({ userAgent: 'Device A (sessionkit browser test)' });
  const deviceB = await browser.newContext({ userAgent: 'Device B (sessionkit browser test)' });
  const a = await deviceA.newPage();
  const b = await deviceB.newPage();

  await signIn(a, 'alice', 'wonderland');
  await signIn(b, 'alice', 'wonderland');
  await a.reload();

  for (const [p, self, other] of [
    [a, 'Device A', 'Device B'],
    [b, 'Device B', 'Device A'],
  ]) {
    const rows = p.locator('#devices tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await p.locator('#devices tr.this').textContent()).toContain(self);
    expect(await p.locator('#devices tr.this').textContent()).toContain('this device');
    expect(await p.locator('#devices tr.other').textContent()).toContain(other);
    expect(await p.locator('#devices tr.other').textContent()).toContain('127.0.0.1');
  }
  mkdirSync(results, { recursive: true });
  await a.screenshot({ path: path.join(results, 'devices.png'), fullPage: true });

  // A revokes B
  await Promise.all([a.waitForURL(`${base}/devices`), a.click('#devices tr.other button')]);
  expect(await a.locator('#devices tbody tr').count()).toBe(1);
  await b.reload();
  expect(new URL(b.url()).pathname).toBe('/');
  expect(await b.locator('#sign-in').count()).toBe(1);

  // A logs out everywhere
  await Promise.all([a.waitForURL(`${base}/`), a.click('#everywhere')]);
  expect(await a.locator('#sign-in').count()).toBe(1);
  await a.goto(`${base}/devices`);
  expect(new URL(a.url()).pathname).toBe('/');

  await deviceA.close();
  await deviceB.close();
});
