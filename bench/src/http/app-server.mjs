// One express 5 + express-session app in a process of its own (so the load generator does
// not share its event loop): node app-server.mjs <variant>. It answers the parent over IPC
// with { port }, and on request ('stats') with { statements, pageViews, cpuUs }: SQL
// statements its pg clients sent, GET /page requests it answered, and its CPU time (user +
// system, µs), once no page view is in flight (autocannon drops the requests it has in
// flight when a run ends; the app still serves them, with their backend commands).
//   POST /login  signs a user in (userId plus a ~1 KB profile in the session)
//   GET  /page   the signed-in page view that is measured (401 when not signed in)
import { SessionkitStore } from '@sessionkit/express-session';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { PostgresSessionStore } from '@sessionkit/store-postgres';
import { RedisSessionStore } from '@sessionkit/store-redis';
import pgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis-10';
import express from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import createMemoryStore from 'memorystore';
import pg from 'pg';
import { createClient } from 'redis';
import { sampleMetadata } from '../harness.mjs';

let statements = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(...args) {
  statements++;
  return query.apply(this, args);
};

const variant = process.argv[2];
const { REDIS_URL, DATABASE_URL } = process.env;

async function makeStore() {
  switch (variant) {
    case 'none':
      return undefined;
    case 'memorystore':
      return new (createMemoryStore(session))({ checkPeriod: 86_400_000 });
    case 'sessionkit-memory':
      return new SessionkitStore({ store: new MemorySessionStore() });
    case 'connect-redis': {
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      return new RedisStore({ client, prefix: 'cr:' });
    }
    case 'sessionkit-redis':
    case 'sessionkit-redis-autopipelining': {
      // ioredis as the express-session README sets it up (its defaults: store-redis batches
      // the reads of one event-loop turn into one MGET itself), and with enableAutoPipelining
      // (ioredis then also batches every command of a turn: a second layer over store-redis's).
      const client = new Redis(REDIS_URL, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        lazyConnect: true,
        enableAutoPipelining: variant === 'sessionkit-redis-autopipelining',
      });
      await client.connect();
      return new SessionkitStore({ store: new RedisSessionStore({ client, prefix: `${variant}:` }) });
    }
    case 'connect-pg-simple': {
      const pool = new pg.Pool({ connectionString: DATABASE_URL });
      await pool.query(`CREATE TABLE IF NOT EXISTS "session" (
        "sid" varchar NOT NULL COLLATE "default" PRIMARY KEY,
        "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)`);
      await pool.query('CREATE INDEX IF NOT EXISTS "IDX_session_expire" ON "session" ("expire")');
      return new (pgSimple(session))({ pool, pruneSessionInterval: false });
    }
    case 'sessionkit-postgres': {
      const pool = new pg.Pool({ connectionString: DATABASE_URL });
      const store = new PostgresSessionStore({ pool });
      await store.migrate();
      return new SessionkitStore({ store });
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

const store = await makeStore();
const app = express();
const profile = sampleMetadata();
// Counted before the session middleware: a request whose connection closes while its
// session is read has already emitted 'close' by the time the route runs.
let pageViews = 0;
let inFlight = 0;
app.use('/page', (_req, res, next) => {
  inFlight++;
  res.once('close', () => {
    inFlight--;
    pageViews++;
  });
  next();
});
if (store) {
  app.use(
    session({
      store,
      secret: 'bench secret, long enough to sign cookies',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 86_400_000 },
    }),
  );
}
let users = 0;
app.post('/login', (req, res) => {
  if (req.session) {
    req.session.userId = `user-${process.pid}-${users++}`;
    req.session.profile = profile;
  }
  res.send('ok');
});
app.get('/page', (req, res) => {
  if (req.session && !req.session.userId) return res.status(401).send('sign in first');
  res.send(`<!doctype html><p>Hello ${req.session?.userId ?? 'you'}</p>`);
});
function stats(waitedMs = 0) {
  // in-flight page views finish within the store's operation timeout (5 s)
  if (inFlight > 0 && waitedMs < 10_000) return void setTimeout(stats, 5, waitedMs + 5);
  const cpu = process.cpuUsage();
  process.send({ statements, pageViews, cpuUs: cpu.user + cpu.system });
}
process.on('message', (message) => {
  if (message === 'stats') stats();
});
const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
