// The same small app under express 5 + express-session and under Fastify 5 +
// @fastify/cookie + @fastify/session, both over a SessionkitStore:
//   GET  /page            reads the session, changes nothing
//   POST /login?user=u    sets userId (and a Date); &regenerate=1 regenerates first
//   POST /cart?item=i     changes a signed-out session
//   POST /logout          destroys the session
// Each answers JSON describing the session; an error answers 500 { code, message }.
import type { Server } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import express from 'express';
import session from 'express-session';
import Fastify from 'fastify';
import type { SessionkitStore } from '../src/index.js';
import { urlOf } from './http.js';

export const LOGIN_DATE = new Date('2026-01-02T03:04:05.678Z');

export interface AppOptions {
  store: SessionkitStore;
  maxAgeMs?: number;
  rolling?: boolean;
  saveUninitialized?: boolean;
  resave?: boolean;
}

export interface RunningApp {
  url: string;
  /** Errors the framework's error handler saw. */
  errors: unknown[];
  close(): Promise<void>;
}

export type Framework = 'express' | 'fastify';

type Sess = Record<string, unknown> & { cookie: { expires?: unknown } };

function describe(sess: Sess, sid: string) {
  return {
    sid,
    userId: sess.userId ?? null,
    cart: sess.cart ?? null,
    loggedInAt:
      sess.loggedInAt instanceof Date ? sess.loggedInAt.toISOString() : `not a Date: ${typeof sess.loggedInAt}`,
    nested: sess.nested ?? null,
    nestedAtIsDate: (sess.nested as { list?: { at?: unknown }[] } | undefined)?.list?.[2]?.at instanceof Date,
    expiresIsDate: sess.cookie.expires instanceof Date,
  };
}

function errorBody(err: unknown) {
  const e = err as { code?: unknown; message?: unknown };
  return { code: e.code ?? null, message: String(e.message) };
}

export async function startApp(framework: Framework, options: AppOptions): Promise<RunningApp> {
  return framework === 'express' ? startExpress(options) : startFastify(options);
}

async function startExpress(options: AppOptions): Promise<RunningApp> {
  const app = express();
  const errors: unknown[] = [];
  app.use(
    session({
      store: options.store,
      secret: 'a test secret that is long enough to sign cookies',
      resave: options.resave ?? false,
      saveUninitialized: options.saveUninitialized ?? false,
      rolling: options.rolling ?? false,
      cookie: { maxAge: options.maxAgeMs ?? 86_400_000 },
    }),
  );
  const sess = (req: express.Request) => req.session as unknown as Sess;
  app.get('/page', (req, res) => {
    res.json(describe(sess(req), req.sessionID));
  });
  app.post('/login', (req, res, next) => {
    const user = String(req.query.user);
    const finish = () => {
      sess(req).userId = user;
      sess(req).loggedInAt = new Date(LOGIN_DATE);
      sess(req).nested = { $date: 'not a date', list: [1, 'two', { at: new Date(LOGIN_DATE) }] };
      res.json(describe(sess(req), req.sessionID));
    };
    if (req.query.regenerate) req.session.regenerate((err) => (err ? next(err) : finish()));
    else finish();
  });
  app.post('/cart', (req, res) => {
    sess(req).cart = String(req.query.item);
    res.json(describe(sess(req), req.sessionID));
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    errors.push(err);
    if (!res.headersSent) res.status(500).json(errorBody(err));
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: urlOf(server),
    errors,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startFastify(options: AppOptions): Promise<RunningApp> {
  const app = Fastify();
  const errors: unknown[] = [];
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store: options.store as never,
    secret: 'a test secret that is long enough to sign cookies',
    saveUninitialized: options.saveUninitialized ?? false,
    rolling: options.rolling ?? false,
    cookie: { maxAge: options.maxAgeMs ?? 86_400_000, secure: false },
  });
  const sess = (req: { session: unknown }) => req.session as unknown as Sess & { sessionId: string };
  app.get('/page', async (req) => describe(sess(req), sess(req).sessionId));
  app.post('/login', async (req) => {
    const query = req.query as Record<string, string>;
    if (query.regenerate) await req.session.regenerate();
    const s = sess(req);
    s.userId = String(query.user);
    s.loggedInAt = new Date(LOGIN_DATE);
    s.nested = { $date: 'not a date', list: [1, 'two', { at: new Date(LOGIN_DATE) }] };
    return describe(s, s.sessionId);
  });
  app.post('/cart', async (req) => {
    const s = sess(req);
    s.cart = String((req.query as Record<string, string>).item);
    return describe(s, s.sessionId);
  });
  app.post('/logout', async (req) => {
    await req.session.destroy();
    return { ok: true };
  });
  app.setErrorHandler((err, _req, reply) => {
    errors.push(err);
    reply.status(500).send(errorBody(err));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: urlOf(app.server), errors, close: () => app.close() };
}
