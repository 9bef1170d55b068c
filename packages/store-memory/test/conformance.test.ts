import { describeSessionStore } from '@sessionkit/core/testing';
import { describe, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';

describeSessionStore({
  name: 'MemorySessionStore',
  create: ({ clock, maxLifetimeMs, maxRecordBytes }) =>
    new MemorySessionStore({ clock, maxLifetimeMs, maxRecordBytes }),
  destroy: (store) => store.close(),
  runner: { describe, it },
});
