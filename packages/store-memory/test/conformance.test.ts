import { describeSessionStore } from '@sessionkit/core/testing';
import { describe, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';

describeSessionStore({
  name: 'MemorySessionStore',
  // Every option the suite sets (clock, maxLifetimeMs, maxRecordBytes,
  // maxSessionsPerUser) is one of the store's own: passed through as given.
  create: (options) => new MemorySessionStore(options),
  destroy: (store) => store.close(),
  runner: { describe, it },
  // An in-memory store is cheap to exercise: run the property tests harder.
  propertyRuns: 100,
  // Every call of this store runs to completion synchronously when it is made, so a race
  // round's outcome depends only on the order of the calls, and the suite rotates the
  // delete through at most ten positions (four mutations plus delete; nine plus
  // deleteByUser). Ten rounds visit each ordering; more would only repeat them.
  raceRounds: 10,
});
