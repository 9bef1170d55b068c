// node src/main.mjs  (PORT, REDIS_URL, DATABASE_URL, SESSION_SECRET from the environment)
import { SessionkitStore } from '@sessionkit/express-session';
import { createApp } from './app.mjs';
import { openStore } from './stores.mjs';

const backend = await openStore();
const sessionStore = new SessionkitStore({ store: backend.store });
const app = createApp({ sessionStore, secret: process.env.SESSION_SECRET });
const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`sessionkit express app on http://127.0.0.1:${port} (sessions in ${backend.name})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => backend.close()));
}
