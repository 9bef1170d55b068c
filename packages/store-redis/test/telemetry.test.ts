import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectServerStoreTelemetry } from '../../core/test/fixtures/otel.mjs';
import { RedisSessionStore } from '../src/index.js';
import { type SingleTarget, singleRedis } from './servers.js';

let target: SingleTarget;

beforeAll(async () => {
  target = await singleRedis();
});

afterAll(async () => {
  await target?.stop();
});

describe('OpenTelemetry (smoke, against a real Redis)', () => {
  it('records a span and counters for ok and error outcomes, with no id, user or tenant in any attribute', async () => {
    await expectServerStoreTelemetry(
      'redis',
      (telemetry) => new RedisSessionStore({ client: target.client, prefix: `otel-${Date.now()}:`, telemetry }),
    );
  });
});
