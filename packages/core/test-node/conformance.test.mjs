// The conformance suite under node:test, to prove it runs with a runner other than vitest.
import { describe, it } from 'node:test';
import { describeSessionStore } from '../dist/testing/index.js';
import { MapSessionStore } from '../test/fixtures/map-store.mjs';

describeSessionStore({
  name: 'MapSessionStore (README example) under node:test',
  create: (options) => new MapSessionStore(options),
  runner: { describe, it },
});
