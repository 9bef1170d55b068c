import type memjs from 'memjs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectServerStoreTelemetry } from '../../core/test/fixtures/otel.mjs';
import { MemcachedSessionStore } from '../src/index.js';
import { makeClient, memcachedServers, type Servers } from './helpers.js';

let servers: Servers;
let client: memjs.Client;

beforeAll(async () => {
  servers = await memcachedServers(1);
  client = makeClient(servers.servers[0] as string);
});

afterAll(async () => {
  client?.close();
  await servers?.stop();
});

describe('OpenTelemetry (smoke, against a real memcached)', () => {
  it('records a span and counters for ok and error outcomes, with no id, user or tenant in any attribute', async () => {
    await expectServerStoreTelemetry(
      'memcached',
      (telemetry) => new MemcachedSessionStore({ client, prefix: `otel-${Date.now()}:`, telemetry }),
    );
  });
});
