import { TELEMETRY_METRICS, tenantId } from '@sessionkit/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecrets, otelHarness } from '../../core/test/fixtures/otel.mjs';
import { PostgresSessionStore } from '../src/index.js';
import { database, HOUR, makePool, manualClock, record, uniqueName } from './helpers.js';

let db: { url: string; stop: () => Promise<void> };
let pool: pg.Pool;
const schema = uniqueName('otel');

beforeAll(async () => {
  db = await database();
  pool = makePool(db.url);
});

afterAll(async () => {
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool?.end();
  await db?.stop();
});

const A = { 'sessionkit.store': 'postgres' };

describe('OpenTelemetry (against a real PostgreSQL)', () => {
  it('records spans and counters for ok and error outcomes, with no id, user or tenant in any attribute', async () => {
    const otel = otelHarness();
    const clock = manualClock();
    const telemetry = { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider };
    const store = new PostgresSessionStore({ pool, schema, table: 'sessions', clock: clock.now, telemetry });
    await store.migrate();
    const USER = 'user-3c7e9a1f52';
    const TENANT = 'tenant-d04b8e6f19';
    const rec = (ttl = HOUR) =>
      record(clock.now(), {
        userId: USER,
        tenantId: tenantId(TENANT),
        expiresAt: new Date(clock.now() + ttl),
      });
    const short = await store.create(rec(1_000));
    const long = await store.create(rec());
    const got = await store.get(long);
    expect(got?.userId).toBe(USER);
    await store.update({ ...(got as NonNullable<typeof got>), metadata: { step: 2 } });
    await store.touch(long);
    await store.extend(long, 2 * HOUR);
    expect(await store.listByUser(USER, tenantId(TENANT))).toHaveLength(2);
    await expect(store.touch('no-such-session-6b1f')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    clock.advance(5_000);
    await expect(store.get(short)).rejects.toMatchObject({ code: 'EXPIRED' });
    expect(await store.cleanupExpired()).toBe(1);
    await store.delete('no-such-session-6b1f');
    expect(await store.deleteByUser(USER, tenantId(TENANT))).toBe(1);

    // A backend failure: a table that was never migrated.
    const unmigrated = new PostgresSessionStore({ pool, schema, table: 'missing', clock: clock.now, telemetry });
    await expect(unmigrated.create(rec())).rejects.toMatchObject({ code: 'STORAGE' });

    const spans = otel.spans();
    expect(new Set(spans.map((s) => s.name))).toEqual(
      new Set(
        ['create', 'get', 'update', 'delete', 'deleteByUser', 'extend', 'touch', 'cleanupExpired', 'listByUser'].map(
          (op) => `sessionkit.${op}`,
        ),
      ),
    );
    const failed = spans.filter((s) => s.attributes['sessionkit.outcome'] === 'error');
    expect(failed.map((s) => `${s.name}:${s.attributes['sessionkit.error.code']}`).sort()).toEqual([
      'sessionkit.create:STORAGE',
      'sessionkit.get:EXPIRED',
      'sessionkit.touch:NOT_FOUND',
    ]);
    for (const s of spans) expect(s.attributes['sessionkit.store']).toBe('postgres');
    expect(await otel.sum(TELEMETRY_METRICS.operations, A)).toBe(spans.length);
    expect(await otel.sum(TELEMETRY_METRICS.operations, { ...A, 'sessionkit.outcome': 'error' })).toBe(3);
    expect(await otel.sum(TELEMETRY_METRICS.errors, { ...A, 'sessionkit.error.code': 'STORAGE' })).toBe(1);
    expect(await otel.sum(TELEMETRY_METRICS.removed, { ...A, 'sessionkit.reason': 'cleanup' })).toBe(1);
    expectNoSecrets(spans, await otel.points(), [short, long, USER, TENANT, schema]);
    await store.close();
    await unmigrated.close();
  });
});
