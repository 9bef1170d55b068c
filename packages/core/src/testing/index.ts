/**
 * `@sessionkit/core/testing`: the conformance suite every sessionkit store runs.
 *
 * It imports no test runner: pass your runner's `describe` and `it` (vitest, jest or
 * `node:test`). Tests a store's capabilities rule out are registered with `it.skip`, so
 * the report names them; each capability a store lacks is checked to reject
 * `UNSUPPORTED` (`cleanup`: resolve 0).
 *
 * @example
 * import { describe, it } from 'vitest'
 * import { describeSessionStore } from '@sessionkit/core/testing'
 *
 * describeSessionStore({
 *   name: 'MySessionStore',
 *   create: (options) => new MySessionStore(options), // clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser
 *   // stateless: true, // only for a token store that keeps no records (store-jwt)
 *   runner: { describe, it },
 * })
 *
 * @module @sessionkit/core/testing
 */
import type { SessionStore } from '../store.js';
import { capabilityTests, createTests, validationTests } from './basics.js';
import { isolationTests, propertyTests, raceTests } from './concurrency.js';
import { capabilitiesOf, makeRegister } from './harness.js';
import { cleanupTests, deleteTests, expiryTests, extendTouchTests, listTests, updateTests } from './lifecycle.js';
import { ownershipTests, perUserTests } from './ownership.js';
import type { DescribeSessionStoreOptions } from './types.js';

// Helpers for a store's own tests (the suite uses the same ones).
export { HOUR, MINUTE, makeRecord, SECOND, sampleMetadata, TestClock } from './harness.js';
export type {
  ConformanceRunner,
  ConformanceStoreOptions,
  ConformanceTestFn,
  DescribeSessionStoreOptions,
} from './types.js';

/** Registers the conformance suite for one store with the given runner. */
export function describeSessionStore<S extends SessionStore>(options: DescribeSessionStoreOptions<S>): void {
  if (!options || typeof options.create !== 'function' || !options.runner) {
    throw new TypeError('[sessionkit/testing] describeSessionStore needs { name, create, runner: { describe, it } }');
  }
  if (typeof options.runner.it?.skip !== 'function') {
    throw new TypeError(
      "[sessionkit/testing] runner.it.skip is missing: pass your test runner's `it` (vitest, jest or node:test)",
    );
  }
  const generic = options as unknown as DescribeSessionStoreOptions;
  const caps = capabilitiesOf(generic);
  const test = makeRegister(generic, caps);
  const propertyRuns = options.propertyRuns ?? 15;
  const raceRounds = options.raceRounds ?? 8;
  const { describe } = options.runner;
  describe(`${options.name}: conformance`, () => {
    describe('capabilities', () => capabilityTests(test, caps));
    describe('create and get', () => createTests(test));
    describe('validation', () => validationTests(test));
    describe('expiry', () => expiryTests(test));
    describe('update', () => updateTests(test));
    describe('extend and touch', () => extendTouchTests(test));
    describe('delete and deleteByUser', () => deleteTests(test));
    describe('listByUser', () => listTests(test));
    describe('cleanupExpired', () => cleanupTests(test));
    describe('tenant isolation', () => isolationTests(test, propertyRuns));
    describe('ownership', () => ownershipTests(test));
    describe('maxSessionsPerUser', () => perUserTests(test));
    describe('races', () => raceTests(test, raceRounds));
    describe('properties', () => propertyTests(test, propertyRuns));
  });
}
