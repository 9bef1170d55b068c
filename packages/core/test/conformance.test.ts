import { describe, it } from 'vitest';
import { describeSessionStore } from '../src/testing/index.js';
// @ts-expect-error: a plain-JS fixture (the README's example store)
import { MapSessionStore } from './fixtures/map-store.mjs';

describeSessionStore({
  name: 'MapSessionStore (README example) under vitest',
  create: (options) => new MapSessionStore(options),
  runner: { describe, it },
});
