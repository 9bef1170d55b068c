/*
 * The few members of the OpenTelemetry API that core's instrumentation uses, and the
 * store option `telemetry`, so core's type declarations do not depend on
 * `@opentelemetry/api` being installed.
 */

/** Attribute values as OpenTelemetry takes them (only strings and numbers are used). */
export type TelemetryAttributes = Record<string, string | number>;

/** The part of an OpenTelemetry `Span` sessionkit uses. */
export interface TelemetrySpan {
  /** False for a span nobody records (no SDK registered, or sampled out). */
  isRecording?(): boolean;
  setAttribute(key: string, value: string | number): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** The part of an OpenTelemetry `Tracer` sessionkit uses. */
export interface TelemetryTracer {
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: TelemetryAttributes },
    context?: unknown,
  ): TelemetrySpan;
}

/** The part of an OpenTelemetry `TracerProvider` sessionkit uses. */
export interface TelemetryTracerProvider {
  getTracer(name: string, version?: string): TelemetryTracer;
}

/** The part of an OpenTelemetry `Counter` sessionkit uses. */
export interface TelemetryCounter {
  add(value: number, attributes?: TelemetryAttributes): void;
}

/** The part of an OpenTelemetry `Meter` sessionkit uses. */
export interface TelemetryMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): TelemetryCounter;
}

/** The part of an OpenTelemetry `MeterProvider` sessionkit uses. */
export interface TelemetryMeterProvider {
  getMeter(name: string, version?: string): TelemetryMeter;
}

/**
 * The store option `telemetry`. Leave it unset to use the global providers of
 * `@opentelemetry/api` when that package is installed (a no-op when it is not); pass
 * providers to use them instead (a provider left out falls back to the global one);
 * pass `false` to turn instrumentation off for this store.
 */
export type StoreTelemetryOption =
  | false
  | {
      /** Spans come from `tracerProvider.getTracer('@sessionkit/core')`. */
      tracerProvider?: TelemetryTracerProvider;
      /** Counters come from `meterProvider.getMeter('@sessionkit/core')`. */
      meterProvider?: TelemetryMeterProvider;
    };
