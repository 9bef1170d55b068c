// The step-up demo in a real browser: Debian's chromium driven by playwright-core. The
// browser keeps the cookie itself (HttpOnly, Secure, SameSite=Lax, __Host-: Chromium
// accepts Secure cookies on http://localhost). Sign in, open the sensitive page, pass the
// second factor (the cookie rotates), see the devices page, sign out. Chromium that cannot
// start fails the test (CI installs it with apt when it is missing).
import { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, DEMO_CODE } from '../src/app.mjs';

const executablePath = process.env.SESSIONKIT_CHROMIUM ?? '/usr/bin/chromium';
let server;
let base;
let browser;

beforeAll(async () => {
  const { app } = createApp();
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://localhost:${server.address().port}`;
  browser = await chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections?.();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

it('sign in, step up on the sensitive page (the cookie rotates), devices, sign out', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sessionCookie = async () => (await context.cookies()).find((c) => c.name === '__Host-session');

  await page.goto(`${base}/`);
  await page.fill('input[name=user]', 'ada');
  await page.fill('input[name=password]', 'lovelace');
  await Promise.all([page.waitForURL(`${base}/`), page.click('button')]);
  expect(await page.textContent('#level')).toContain('Assurance level 1');
  const first = await sessionCookie();
  expect(first).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
  expect(await page.evaluate(() => document.cookie)).toBe(''); // HttpOnly: scripts cannot read it

  await page.goto(`${base}/sensitive`);
  expect(page.url()).toBe(`${base}/step-up`);
  await page.fill('input[name=code]', DEMO_CODE);
  await Promise.all([page.waitForURL(`${base}/sensitive`), page.click('button')]);
  expect(await page.textContent('#secret')).toContain('recovery codes');
  const second = await sessionCookie();
  expect(second?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(second?.value).not.toBe(first?.value);

  await page.goto(`${base}/devices`);
  expect(await page.locator('li.device.current').count()).toBe(1);
  await page.goto(`${base}/`);
  await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/logout"] button')]);
  expect(await page.locator('input[name=password]').count()).toBe(1);
  expect(await sessionCookie()).toBeUndefined();
  await context.close();
});
