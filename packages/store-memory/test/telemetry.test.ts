import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { loadTelemetryApi, SessionError, TELEMETRY_METRICS, tenantId } from '@sessionkit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectNoSecrets, otelHarness } from '../../core/test/fixtures/otel.mjs';
import { MemorySessionStore } from '../src/index.js';
import { makeRecord, rejectsWith, testClock } from './helpers.js';

const USER = 'user-5f1c9e27d3';
const TENANT = 'tenant-8a2b6d40c1';
const A = { 'sessionkit.store': 'memory' };

describe('OpenTelemetry', () => {
  afterEach(() => {
    trace.disable();
    metrics.disable();
  });

  it('records a span and counters for every operation, ok and error, with no id, user or tenant in any attribute', async () => {
    const otel = otelHarness();
    const clock = testClock();
    const store = new MemorySessionStore({
      clock: clock.read,
      maxSessionsPerUser: 2,
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    });
    const rec = (ttl = 60_000) => makeRecord(clock.now, { userId: USER, tenantId: TENANT, ttl });
    const ids = [await store.create(rec(1_000)), await store.create(rec())];
    // A third session for the user evicts the one that expires soonest.
    ids.push(await store.create(rec()));
    const custom = 'custom-id-0d9f3e5b71a4';
    await rejectsWith(store.create({ ...rec(), id: ids[2] as string }), 'CONFLICT');
    expect(await store.get(ids[2] as string)).not.toBeNull();
    expect(await store.get(custom)).toBeNull();
    await store.touch(ids[2] as string);
    await store.extend(ids[2] as string, 120_000);
    const got = await store.get(ids[2] as string);
    await store.update({ ...(got as NonNullable<typeof got>), metadata: { n: 1 } });
    await rejectsWith(store.touch(custom), 'NOT_FOUND');
    await rejectsWith(store.extend(ids[2] as string, -1), 'INVALID');
    expect(await store.listByUser(USER, tenantId(TENANT))).toHaveLength(2);
    clock.advance(90_000); // ids[1] expired, ids[2] (extended) not
    await rejectsWith(store.get(ids[1] as string), 'EXPIRED');
    expect(await store.cleanupExpired()).toBe(1);
    await store.delete(ids[0] as string);
    expect(await store.deleteByUser(USER, tenantId(TENANT))).toBe(1);

    const spans = otel.spans();
    const names = new Set(spans.map((s) => s.name));
    for (const op of [
      'create',
      'get',
      'update',
      'delete',
      'deleteByUser',
      'extend',
      'touch',
      'cleanupExpired',
      'listByUser',
    ]) {
      expect(names.has(`sessionkit.${op}`), op).toBe(true);
    }
    for (const s of spans) {
      expect(s.attributes['sessionkit.store']).toBe('memory');
      expect(`sessionkit.${s.attributes['sessionkit.operation']}`).toBe(s.name);
      expect(['ok', 'error']).toContain(s.attributes['sessionkit.outcome']);
    }
    const failed = spans.filter((s) => s.attributes['sessionkit.outcome'] === 'error');
    expect(failed.map((s) => `${s.name}:${s.attributes['sessionkit.error.code']}`).sort()).toEqual([
      'sessionkit.create:CONFLICT',
      'sessionkit.extend:INVALID',
      'sessionkit.get:EXPIRED',
      'sessionkit.touch:NOT_FOUND',
    ]);
    for (const s of failed) expect(s.status.code).toBe(2); // SpanStatusCode.ERROR

    const ops = TELEMETRY_METRICS.operations;
    expect(await otel.sum(ops, { ...A, 'sessionkit.operation': 'create', 'sessionkit.outcome': 'ok' })).toBe(3);
    expect(await otel.sum(ops, { ...A, 'sessionkit.operation': 'create', 'sessionkit.outcome': 'error' })).toBe(1);
    expect(await otel.sum(ops, { ...A, 'sessionkit.operation': 'get', 'sessionkit.outcome': 'ok' })).toBe(3);
    expect(await otel.sum(ops, A)).toBe(spans.length);
    expect(await otel.sum(TELEMETRY_METRICS.errors, A)).toBe(4);
    expect(await otel.sum(TELEMETRY_METRICS.errors, { ...A, 'sessionkit.error.code': 'EXPIRED' })).toBe(1);
    expect(await otel.sum(TELEMETRY_METRICS.removed, { ...A, 'sessionkit.reason': 'cleanup' })).toBe(1);
    expect(await otel.sum(TELEMETRY_METRICS.removed, { ...A, 'sessionkit.reason': 'max_sessions_per_user' })).toBe(1);

    expectNoSecrets(spans, await otel.points(), [...ids, custom, USER, TENANT]);
  });

  it('uses the global providers of @opentelemetry/api when no telemetry option is given', async () => {
    const otel = otelHarness();
    expect(await loadTelemetryApi()).toBe(true);
    trace.setGlobalTracerProvider(otel.tracerProvider);
    metrics.setGlobalMeterProvider(otel.meterProvider);
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read });
    const id = await store.create(makeRecord(clock.now, { userId: USER, tenantId: TENANT }));
    await store.get(id);
    expect(otel.spans().map((s) => s.name)).toEqual(['sessionkit.create', 'sessionkit.get']);
    expect(await otel.sum(TELEMETRY_METRICS.operations, { ...A, 'sessionkit.outcome': 'ok' })).toBe(2);
    expectNoSecrets(otel.spans(), await otel.points(), [id, USER, TENANT]);
  });

  it('telemetry: false leaves the methods unwrapped and records nothing', async () => {
    const otel = otelHarness();
    await loadTelemetryApi();
    trace.setGlobalTracerProvider(otel.tracerProvider);
    const clock = testClock();
    const store = new MemorySessionStore({ clock: clock.read, telemetry: false });
    expect(Object.hasOwn(store, 'get')).toBe(false);
    await store.create(makeRecord(clock.now));
    expect(otel.spans()).toEqual([]);
    const on = new MemorySessionStore({ clock: clock.read });
    expect(Object.hasOwn(on, 'get')).toBe(true);
  });

  it('rejects a bad telemetry option naming it', () => {
    const bad = (telemetry: unknown, field: string) => {
      let caught: unknown;
      try {
        new MemorySessionStore({ telemetry } as never);
      } catch (error) {
        caught = error;
      }
      expect(SessionError.hasCode(caught, 'INVALID'), String(caught)).toBe(true);
      expect((caught as SessionError).field).toBe(field);
    };
    bad('on', 'telemetry');
    bad({ tracerProvider: {} }, 'telemetry.tracerProvider');
    bad({ meterProvider: 1 }, 'telemetry.meterProvider');
    bad({ tracer: {} }, 'telemetry.tracer');
  });

  it('is a no-op when @opentelemetry/api cannot be resolved (a child process whose loader hides it)', () => {
    const hide = fileURLToPath(new URL('./fixtures/hide-otel.mjs', import.meta.url));
    const probe = fileURLToPath(new URL('./fixtures/otel-probe.mjs', import.meta.url));
    const run = (args: string[]) =>
      JSON.parse(execFileSync(process.execPath, [...args, probe], { encoding: 'utf8', timeout: 20_000 }));
    const hidden = run(['--import', hide]);
    expect(hidden).toEqual({ loaded: false, wrapped: false, works: true, importError: 'ERR_MODULE_NOT_FOUND' });
    // The same probe with the api resolvable: the check above could have failed.
    const visible = run([]);
    expect(visible).toEqual({ loaded: true, wrapped: true, works: true, importError: null });
  });
});

describe('onError (background sweep)', () => {
  it('gets the SessionError of a failed cleanupIntervalMs sweep', async () => {
    let broken = false;
    const errors: SessionError[] = [];
    const store = new MemorySessionStore({
      clock: () => (broken ? Number.NaN : Date.now()),
      cleanupIntervalMs: 5,
      onError: (error) => errors.push(error),
    });
    try {
      broken = true;
      const deadline = Date.now() + 10_000;
      while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(errors.length).toBeGreaterThan(0);
      expect(SessionError.isInstance(errors[0])).toBe(true);
      expect(errors[0]?.field).toBe('clock');
    } finally {
      await store.close();
    }
  });

  it('by default logs a repeated failure once with console.warn, and again after a sweep that succeeds', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let broken = true;
    const store = new MemorySessionStore({ clock: () => (broken ? Number.NaN : Date.now()), cleanupIntervalMs: 5 });
    try {
      const wait = async (n: number) => {
        const deadline = Date.now() + 10_000;
        while (warn.mock.calls.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      };
      await wait(1);
      await new Promise((r) => setTimeout(r, 100)); // about 20 more failing sweeps
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/^\[sessionkit\/memory\].*clock\(\) returned NaN.*onError/);
      broken = false;
      await new Promise((r) => setTimeout(r, 100));
      broken = true;
      await wait(2);
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      await store.close();
      warn.mockRestore();
    }
  });

  it('rejects an onError that is not a function', async () => {
    await rejectsWith((async () => new MemorySessionStore({ onError: 'log' as never }))(), 'INVALID', 'onError');
  });
});
