import type { Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { TELEMETRY_ATTRIBUTES } from '@sessionkit/core';
import { expect } from 'vitest';

/** A reader that exports nothing: the test calls collect() itself. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface Point {
  name: string;
  attributes: Attributes;
  value: number;
}

/** An OpenTelemetry SDK set up in memory: finished spans and cumulative counters. */
export function otelHarness() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const points = async (): Promise<Point[]> => {
    const { resourceMetrics } = await reader.collect();
    const out: Point[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const p of metric.dataPoints) {
          out.push({ name: metric.descriptor.name, attributes: p.attributes, value: p.value as number });
        }
      }
    }
    return out;
  };
  /** The sum of counter `name` over the data points whose attributes include `match`. */
  const sum = async (name: string, match: Attributes = {}): Promise<number> => {
    let total = 0;
    for (const p of await points()) {
      if (p.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) total += p.value;
    }
    return total;
  };
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return { exporter, tracerProvider, meterProvider, points, sum, spans };
}

const ALLOWED_KEYS = new Set<string>([...Object.values(TELEMETRY_ATTRIBUTES), 'sessionkit.removed']);

/**
 * Every attribute of every span and data point is one sessionkit sets on purpose, and no
 * value contains any of `secrets` (session ids, tokens, user ids, tenant ids).
 */
export function expectNoSecrets(spans: ReadableSpan[], points: Point[], secrets: string[]): void {
  const all: [string, Attributes][] = [
    ...spans.map((s): [string, Attributes] => [`span ${s.name}`, s.attributes]),
    ...points.map((p): [string, Attributes] => [`metric ${p.name}`, p.attributes]),
  ];
  expect(all.length).toBeGreaterThan(0);
  for (const [where, attributes] of all) {
    for (const [key, value] of Object.entries(attributes)) {
      expect(ALLOWED_KEYS.has(key), `${where}: unexpected attribute ${key}`).toBe(true);
      for (const secret of secrets) {
        expect(String(value).includes(secret), `${where}: ${key} holds ${secret}`).toBe(false);
      }
    }
  }
  for (const s of spans) {
    for (const secret of secrets) expect(s.name.includes(secret)).toBe(false);
    expect(s.status.message ?? '', 'status message').not.toMatch(/[a-z0-9_-]{20,}/i);
  }
}
