// node src/server.mjs  ->  http://localhost:3000 (PORT to change it; SECURE=0 on plain HTTP
// other than localhost, where browsers refuse Secure cookies).
import { serve } from '@hono/node-server';
import { createApp, DEMO_CODE } from './app.mjs';

const { app } = createApp({ secure: process.env.SECURE !== '0' });
const port = Number(process.env.PORT ?? 3000);
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`step-up demo on http://localhost:${info.port} (users ada/lovelace, grace/hopper; code ${DEMO_CODE})`);
});
