import { randomBytes } from 'node:crypto';
import { TELEMETRY_METRICS, tenantId } from '@sessionkit/core';
import { makeRecord, TestClock } from '@sessionkit/core/testing';
import { describe, expect, it } from 'vitest';
import { expectNoSecrets, otelHarness } from '../../core/test/fixtures/otel.mjs';
import { JwtSessionStore, MemoryRevocationStore } from '../src/index.js';

describe('OpenTelemetry (smoke)', () => {
  it('records a span and counters for ok and error outcomes, never the token, user or tenant', async () => {
    const otel = otelHarness();
    const store = new JwtSessionStore({
      secret: randomBytes(32),
      revocations: new MemoryRevocationStore(),
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    });
    const USER = 'user-0b6e2f9d47';
    const TENANT = 'tenant-c3a81e5f06';
    const token = await store.create(
      makeRecord(new TestClock(), { userId: USER, tenantId: tenantId(TENANT), transactionId: '', metadata: {} }),
    );
    expect((await store.get(token))?.userId).toBe(USER);
    await expect(store.touch(token)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await store.delete(token);
    expect(await store.get(token)).toBeNull();
    await store.close();

    const spans = otel.spans();
    expect(spans.map((s) => `${s.name}:${s.attributes['sessionkit.outcome']}`)).toEqual([
      'sessionkit.create:ok',
      'sessionkit.get:ok',
      'sessionkit.touch:error',
      'sessionkit.delete:ok',
      'sessionkit.get:ok',
    ]);
    expect(spans[2]?.attributes['sessionkit.error.code']).toBe('UNSUPPORTED');
    const A = { 'sessionkit.store': 'jwt' };
    expect(await otel.sum(TELEMETRY_METRICS.operations, { ...A, 'sessionkit.outcome': 'ok' })).toBe(4);
    expect(await otel.sum(TELEMETRY_METRICS.errors, { ...A, 'sessionkit.error.code': 'UNSUPPORTED' })).toBe(1);
    // The token's parts too (header, payload, signature), not only the whole token.
    expectNoSecrets(spans, await otel.points(), [token, ...token.split('.'), USER, TENANT]);
  });
});
