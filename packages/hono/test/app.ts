// A small app behind sessionMiddleware, shared by the app.request() and real-HTTP tests.
import { tenantId } from '@sessionkit/core';
import type { SessionManager } from '@sessionkit/manager';
import { Hono } from 'hono';
import {
  type SessionCookieOptions,
  type SessionEnv,
  sessionMiddleware,
  signIn,
  signOut,
  stepUp,
} from '../src/index.js';

export function makeApp(manager: SessionManager, cookie?: SessionCookieOptions) {
  const app = new Hono<SessionEnv>();
  app.use(sessionMiddleware({ manager, ...(cookie ? { cookie } : {}) }));
  app.post('/login/:user', async (c) => {
    const session = await signIn(c, {
      userId: c.req.param('user'),
      tenantId: tenantId('acme'),
      factorsUsed: ['password'],
      assuranceLevel: 1,
    });
    return c.json({ user: session.userId });
  });
  app.get('/me', (c) => {
    const session = c.get('session');
    if (session === null) return c.json({ error: 'signed out' }, 401);
    return c.json({ user: session.userId, level: session.assuranceLevel, rotated: session.rotated });
  });
  app.post('/step-up', async (c) => {
    const session = await stepUp(c, { factorsUsed: ['totp'], assuranceLevel: 2 });
    return session === null ? c.json({ error: 'signed out' }, 401) : c.json({ level: session.assuranceLevel });
  });
  app.post('/logout', async (c) => {
    await signOut(c);
    return c.json({ ok: true });
  });
  app.onError((error, c) => c.json({ error: error.message }, 500));
  return app;
}

/** The value of cookie `name` in a response's Set-Cookie headers, and its attributes. */
export function setCookieOf(res: Response, name: string) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(/;\s*/);
    const eq = (pair as string).indexOf('=');
    if ((pair as string).slice(0, eq) === name) {
      return { value: decodeURIComponent((pair as string).slice(eq + 1)), attrs, line };
    }
  }
  return undefined;
}
