import { describeSessionStore } from '@sessionkit/core/testing';
import { describe, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';

describeSessionStore({
  name: 'MemorySessionStore',
  create: ({ clock, maxLifetimeMs, maxRecordBytes }) =>
    new MemorySessionStore({ clock, maxLifetimeMs, maxRecordBytes }),
  destroy: (store) => store.close(),
  runner: { describe, it },
  // An in-memory store is cheap to exercise: run the property and race tests harder.
  propertyRuns: 100,
  raceRounds: 50,
});
