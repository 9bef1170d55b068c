import { SessionError } from './errors.js';
import type { SessionStore } from './store.js';
import type {
  StoreTelemetryOption,
  TelemetryAttributes,
  TelemetryCounter,
  TelemetryMeterProvider,
  TelemetrySpan,
  TelemetryTracer,
  TelemetryTracerProvider,
} from './telemetry-types.js';

/*
 * OpenTelemetry instrumentation of store operations.
 *
 * `@opentelemetry/api` is an optional peer dependency: core never imports it statically.
 * The first store built without `telemetry: false` starts one dynamic `import()` of it
 * (its specifier is a variable, so bundlers leave it alone, and nothing runs at module
 * load). When it resolves, that store and every later one get their nine methods wrapped;
 * when it fails (not installed, an edge bundle without it), nothing is ever wrapped and
 * the methods are the class's own: no cost at all. A caller can also pass providers
 * explicitly (`telemetry: { tracerProvider, meterProvider }`), which works without the
 * api package being resolvable.
 *
 * The types it uses (telemetry-types.ts) are the few members of the OpenTelemetry API
 * this module calls, so core's type declarations do not depend on `@opentelemetry/api`
 * being installed.
 */

/** The nine instrumented operations. */
export const INSTRUMENTED_OPERATIONS = [
  'create',
  'get',
  'update',
  'delete',
  'deleteByUser',
  'extend',
  'touch',
  'cleanupExpired',
  'listByUser',
] as const satisfies readonly (keyof SessionStore)[];

/** Span and metric attribute names. No attribute ever holds an id, token, user or tenant. */
export const TELEMETRY_ATTRIBUTES = {
  store: 'sessionkit.store',
  operation: 'sessionkit.operation',
  outcome: 'sessionkit.outcome',
  errorCode: 'sessionkit.error.code',
  reason: 'sessionkit.reason',
} as const;

/** Metric names. */
export const TELEMETRY_METRICS = {
  operations: 'sessionkit.operations',
  errors: 'sessionkit.errors',
  removed: 'sessionkit.sessions.removed',
} as const;

const INSTRUMENTATION_NAME = '@sessionkit/core';
const SPAN_KIND_CLIENT = 2;
const STATUS_ERROR = 2;

interface OtelApi {
  trace: {
    getTracerProvider(): TelemetryTracerProvider & { getDelegate?(): unknown };
    setSpan(context: unknown, span: TelemetrySpan): unknown;
  };
  ProxyTracerProvider?: new () => { getDelegate(): unknown };
  metrics: { getMeterProvider(): TelemetryMeterProvider };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
}

/** undefined: not tried yet or loading; null: not available. */
let api: OtelApi | null | undefined;
let loading: Promise<boolean> | undefined;
/** The api's no-op TracerProvider: the global one's delegate until an SDK registers. */
let noopTracerProvider: unknown;
/** Stores waiting for the import to settle. */
const waiting: { store: SessionStore; name: string }[] = [];

function isApi(value: unknown): value is OtelApi {
  const v = value as Partial<OtelApi> | null | undefined;
  return (
    typeof v?.trace?.getTracerProvider === 'function' &&
    typeof v.metrics?.getMeterProvider === 'function' &&
    typeof v.context?.with === 'function'
  );
}

/**
 * Starts (once) the lazy load of `@opentelemetry/api` and resolves with whether it is
 * available. Stores call it for you; await it in tests or at startup to be sure that the
 * first operations are instrumented too (operations that run while it loads are not).
 */
export function loadTelemetryApi(): Promise<boolean> {
  if (loading === undefined) {
    const specifier = '@opentelemetry/api';
    let attempt: Promise<unknown>;
    try {
      attempt = import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
    } catch (error) {
      attempt = Promise.reject(error); // a runtime without dynamic import
    }
    loading = attempt.then(
      (mod) => {
        const m = mod as { default?: unknown };
        api = isApi(m) ? m : isApi(m.default) ? m.default : null;
        try {
          if (api?.ProxyTracerProvider !== undefined) noopTracerProvider = new api.ProxyTracerProvider().getDelegate();
        } catch {
          noopTracerProvider = undefined;
        }
        return api !== null;
      },
      () => {
        api = null;
        return false;
      },
    );
    loading.then(() => {
      for (const w of waiting.splice(0)) if (api !== null) wrap(w.store, w.name, undefined);
    });
  }
  return loading;
}

function checkOption(store: string, option: unknown): StoreTelemetryOption | undefined {
  if (option === undefined || option === false) return option;
  const bad = (field: string, problem: string) =>
    new SessionError('INVALID', `option ${field} ${problem}`, { store, operation: 'constructor', field });
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw bad('telemetry', 'must be false or an object { tracerProvider?, meterProvider? }');
  }
  const o = option as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'tracerProvider' && key !== 'meterProvider') {
      throw bad(`telemetry.${key}`, 'is not an option (known: tracerProvider, meterProvider)');
    }
  }
  const tp = o.tracerProvider as { getTracer?: unknown } | undefined;
  if (tp !== undefined && typeof tp?.getTracer !== 'function') {
    throw bad('telemetry.tracerProvider', 'must be an OpenTelemetry TracerProvider (with getTracer)');
  }
  const mp = o.meterProvider as { getMeter?: unknown } | undefined;
  if (mp !== undefined && typeof mp?.getMeter !== 'function') {
    throw bad('telemetry.meterProvider', 'must be an OpenTelemetry MeterProvider (with getMeter)');
  }
  return option as StoreTelemetryOption;
}

/**
 * Instruments a store's nine operations with a span and counters each (see the
 * "Observability" section of core's README). Call it once, at the end of the
 * constructor: `instrumentStore(this, 'redis', options.telemetry)`. Validates the option
 * (`INVALID` naming `telemetry`). Returns a function the store may call with sessions it
 * removed on its own (for example `maxSessionsPerUser` evictions); it does nothing while
 * instrumentation is off.
 */
export function instrumentStore(
  store: SessionStore,
  name: string,
  option: unknown,
): (reason: 'max_sessions_per_user', count: number) => void {
  const checked = checkOption(name, option);
  const handle: Handle = { removed: undefined };
  if (checked === false) return noRemoved;
  if (checked !== undefined) {
    // Explicit providers: instrument now; the api, if it loads, only adds context.
    if (api === undefined) loadTelemetryApi();
    handles.set(store, handle);
    wrap(store, name, checked);
  } else if (api === undefined) {
    handles.set(store, handle);
    waiting.push({ store, name });
    loadTelemetryApi();
  } else if (api !== null) {
    handles.set(store, handle);
    wrap(store, name, undefined);
  } else {
    return noRemoved;
  }
  return (reason, count) => handle.removed?.(reason, count);
}

interface Handle {
  removed: ((reason: string, count: number) => void) | undefined;
}

const handles = new WeakMap<SessionStore, Handle>();

function noRemoved(): void {}

interface Instruments {
  provider: TelemetryMeterProvider | undefined;
  /** The api's no-op meter (it hands out one shared no-op counter for every name). */
  noop: boolean;
  operations: TelemetryCounter;
  errors: TelemetryCounter;
  removed: TelemetryCounter;
}

function instruments(provider: TelemetryMeterProvider): Instruments {
  const meter = provider.getMeter(INSTRUMENTATION_NAME);
  const instruments: Instruments = {
    provider,
    noop: false,
    operations: meter.createCounter(TELEMETRY_METRICS.operations, {
      description: 'Store operations, by store, operation and outcome (ok or error)',
    }),
    errors: meter.createCounter(TELEMETRY_METRICS.errors, {
      description: 'Store operations that failed, by store, operation and error code',
    }),
    removed: meter.createCounter(TELEMETRY_METRICS.removed, {
      description: 'Sessions removed by the store itself, by reason (cleanup, max_sessions_per_user)',
    }),
  };
  instruments.noop = instruments.operations === instruments.errors;
  return instruments;
}

function wrap(store: SessionStore, name: string, option: Exclude<StoreTelemetryOption, false> | undefined): void {
  const global = (): OtelApi | undefined => api ?? undefined;
  let tracer = option?.tracerProvider?.getTracer(INSTRUMENTATION_NAME);
  // A global TracerProvider is a proxy that follows later registrations.
  const explicitTracer = option?.tracerProvider !== undefined;
  /** No SDK registered globally: skip even creating the api's non-recording span. */
  const tracingOff = (): boolean =>
    !explicitTracer &&
    noopTracerProvider !== undefined &&
    api?.trace.getTracerProvider().getDelegate?.() === noopTracerProvider;
  const tracerOf = (): TelemetryTracer | undefined => {
    if (tracer === undefined) tracer = global()?.trace.getTracerProvider().getTracer(INSTRUMENTATION_NAME);
    return tracer;
  };
  const fixedMeter = option?.meterProvider;
  let cached: Instruments | undefined;
  // The global MeterProvider may be registered after the store is built: look it up per
  // operation and rebuild the counters when it changed.
  const meters = (): Instruments | undefined => {
    const provider = fixedMeter ?? global()?.metrics.getMeterProvider();
    if (provider === undefined) return undefined;
    if (cached?.provider !== provider) cached = instruments(provider);
    return cached;
  };
  const handle = handles.get(store);
  if (handle !== undefined) {
    handle.removed = (reason, count) => {
      if (count > 0)
        meters()?.removed.add(count, { [TELEMETRY_ATTRIBUTES.store]: name, [TELEMETRY_ATTRIBUTES.reason]: reason });
    };
  }
  const target = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const operation of INSTRUMENTED_OPERATIONS) {
    const original = target[operation];
    if (typeof original !== 'function') continue;
    const base: TelemetryAttributes = {
      [TELEMETRY_ATTRIBUTES.store]: name,
      [TELEMETRY_ATTRIBUTES.operation]: operation,
    };
    const spanName = `sessionkit.${operation}`;
    const spanOptions = { kind: SPAN_KIND_CLIENT, attributes: base };
    // Attribute sets built once: an operation allocates none of its own.
    const okAttributes = { ...base, [TELEMETRY_ATTRIBUTES.outcome]: 'ok' };
    const errorAttributes = { ...base, [TELEMETRY_ATTRIBUTES.outcome]: 'error' };
    const codeAttributes = new Map<string, TelemetryAttributes>();
    const cleanupAttributes = { [TELEMETRY_ATTRIBUTES.store]: name, [TELEMETRY_ATTRIBUTES.reason]: 'cleanup' };
    const finish = (span: TelemetrySpan | undefined, m: Instruments | undefined, error: unknown, value: unknown) => {
      if (error === undefined) {
        span?.setAttribute(TELEMETRY_ATTRIBUTES.outcome, 'ok');
        m?.operations.add(1, okAttributes);
        if (operation === 'cleanupExpired' && typeof value === 'number' && value > 0) {
          span?.setAttribute('sessionkit.removed', value);
          m?.removed.add(value, cleanupAttributes);
        }
      } else {
        // Only the code: a message may name an option or field, never worth the risk.
        const code = SessionError.isInstance(error) ? error.code : 'STORAGE';
        span?.setAttribute(TELEMETRY_ATTRIBUTES.outcome, 'error');
        span?.setAttribute(TELEMETRY_ATTRIBUTES.errorCode, code);
        span?.setStatus({ code: STATUS_ERROR, message: code });
        m?.operations.add(1, errorAttributes);
        let byCode = codeAttributes.get(code);
        if (byCode === undefined) {
          byCode = { ...base, [TELEMETRY_ATTRIBUTES.errorCode]: code };
          codeAttributes.set(code, byCode);
        }
        m?.errors.add(1, byCode);
      }
      span?.end();
    };
    const instrumented = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      let span = tracingOff() ? undefined : tracerOf()?.startSpan(spanName, spanOptions);
      if (span !== undefined && span.isRecording?.() === false) {
        span.end();
        span = undefined;
      }
      const m = meters();
      // @opentelemetry/api installed but no SDK registered (or this span sampled out, and
      // no meter): nothing to record, so the call goes straight through.
      if (span === undefined && (m === undefined || m.noop)) return original.apply(this, args);
      const otel = api ?? undefined;
      let result: Promise<unknown>;
      try {
        result =
          span !== undefined && otel !== undefined
            ? otel.context.with(otel.trace.setSpan(otel.context.active(), span), () => original.apply(this, args))
            : original.apply(this, args);
      } catch (error) {
        finish(span, m, error ?? 'error', undefined);
        throw error;
      }
      return result.then(
        (value) => {
          finish(span, m, undefined, value);
          return value;
        },
        (error: unknown) => {
          finish(span, m, error ?? 'error', undefined);
          throw error;
        },
      );
    };
    Object.defineProperty(instrumented, 'name', { value: operation });
    Object.defineProperty(store, operation, { value: instrumented, writable: true, configurable: true });
  }
}
