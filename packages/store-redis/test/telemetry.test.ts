import { TELEMETRY_METRICS, tenantId } from '@sessionkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecrets, otelHarness } from '../../core/test/fixtures/otel.mjs';
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
    const otel = otelHarness();
    const store = new RedisSessionStore({
      client: target.client,
      prefix: `otel-${Date.now()}:`,
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    });
    const USER = 'user-6d2a9f13c8';
    const TENANT = 'tenant-e7b04c5a92';
    const now = Date.now();
    const id = await store.create({
      id: '',
      userId: USER,
      tenantId: tenantId(TENANT),
      transactionId: '',
      factorsUsed: [],
      assuranceLevel: 1,
      metadata: {},
      createdAt: new Date(now),
      expiresAt: new Date(now + 60_000),
      lastActivityAt: new Date(now),
    });
    expect((await store.get(id))?.userId).toBe(USER);
    await expect(store.touch(`${id}-missing`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.close();

    const spans = otel.spans();
    expect(spans.map((s) => `${s.name}:${s.attributes['sessionkit.outcome']}`)).toEqual([
      'sessionkit.create:ok',
      'sessionkit.get:ok',
      'sessionkit.touch:error',
    ]);
    expect(spans[2]?.attributes['sessionkit.error.code']).toBe('NOT_FOUND');
    const A = { 'sessionkit.store': 'redis' };
    expect(await otel.sum(TELEMETRY_METRICS.operations, { ...A, 'sessionkit.outcome': 'ok' })).toBe(2);
    expect(await otel.sum(TELEMETRY_METRICS.errors, { ...A, 'sessionkit.error.code': 'NOT_FOUND' })).toBe(1);
    expectNoSecrets(spans, await otel.points(), [id, USER, TENANT]);
  });
});
