// The test entry bundled for every runtime (esbuild, platform "browser": a `node:` import
// or a Node builtin anywhere in what it pulls in fails the bundle). It registers the
// conformance suite for core's MapSessionStore fixture, MemorySessionStore and
// JwtSessionStore (src/jwt-entry.mjs), @sessionkit/manager's lifecycle over MemorySessionStore
// and store-jwt (src/manager-entry.mjs), plus
// the pieces of core that touch the platform (ids, byte counts, timers), and exposes
// `run()` on globalThis for the runtime's harness.
import {
  checkRecord,
  decodeRecord,
  generateSessionId,
  OperationDeadlines,
  resolveRecordRules,
  SessionError,
  tenantId,
  unrefTimer,
  withTimeout,
} from '@sessionkit/core';
import { describeSessionStore } from '@sessionkit/core/testing';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { MapSessionStore } from '../../core/test/fixtures/map-store.mjs';
import { registerJwtTests } from './jwt-entry.mjs';
import './manager-entry.mjs';
import { describe, it, runAll } from './runner.mjs';

const runner = { describe, it };

function check(condition, message) {
  if (!condition) throw new Error(message);
}

describe('core on this runtime', () => {
  it('generateSessionId: 43 base64url characters, unique', () => {
    const seen = new Set();
    for (let i = 0; i < 300; i++) {
      const id = generateSessionId();
      check(/^[A-Za-z0-9_-]{43}$/.test(id), `bad id ${id}`);
      seen.add(id);
    }
    check(seen.size === 300, 'ids repeat');
  });
  it("checkRecord's encoded output: the record's UTF-8 size as TextEncoder counts it, and it decodes back", () => {
    const rules = resolveRecordRules('runtime', { maxRecordBytes: 1_000_000 });
    const now = Date.now();
    for (const text of [
      'plain',
      'ünïcødé ✓ 日本語 😀',
      'lone \ud800 surrogate',
      'x'.repeat(70_000),
      `${'é'.repeat(70_000)}\ud83d\ude00`,
    ]) {
      const { encoded, bytes, record } = checkRecord(
        rules,
        {
          id: '',
          userId: 'u',
          tenantId: tenantId('t'),
          transactionId: 'tx',
          factorsUsed: ['password'],
          assuranceLevel: 1,
          metadata: { text },
          createdAt: new Date(now),
          expiresAt: new Date(now + 60_000),
          lastActivityAt: new Date(now),
        },
        { operation: 'create', output: 'encoded', generateId: generateSessionId },
      );
      check(bytes === new TextEncoder().encode(encoded).length, `bytes ${bytes} for ${text.slice(0, 20)}`);
      check(decodeRecord(encoded, 'runtime').id === record.id, 'the encoded record decodes to the same id');
    }
  });
  it('withTimeout rejects STORAGE when the work never settles', async () => {
    const started = Date.now();
    let caught;
    try {
      await withTimeout(new Promise(() => {}), 50, 'runtime', 'get');
    } catch (error) {
      caught = error;
    }
    check(SessionError.isInstance(caught) && caught.code === 'STORAGE', `expected STORAGE, got ${caught}`);
    check(Date.now() - started < 10_000, 'the deadline fired far too late');
  });
  it('OperationDeadlines fires onExpire and guards the timer handle (unref where it exists)', async () => {
    const deadlines = new OperationDeadlines(30, 'runtime');
    const expired = await new Promise((resolve) => {
      deadlines.add(() => resolve(true));
    });
    check(expired === true, 'onExpire did not run');
    const cleared = deadlines.add(() => {
      throw new Error('a cleared deadline expired');
    });
    cleared.clear();
    deadlines.stop();
    unrefTimer(setTimeout(() => {}, 0));
  });
});

describe('store-memory on this runtime', () => {
  it("cleanupIntervalMs: the background sweep runs (its timer is unref'd only where the runtime can)", async () => {
    let now = Date.now();
    const store = new MemorySessionStore({ clock: () => now, cleanupIntervalMs: 20 });
    try {
      const id = await store.create({
        id: '',
        userId: 'u',
        tenantId: tenantId('t'),
        transactionId: 'tx',
        factorsUsed: ['password'],
        assuranceLevel: 1,
        metadata: null,
        createdAt: new Date(now),
        expiresAt: new Date(now + 1000),
        lastActivityAt: new Date(now),
      });
      check(store.stats().sessions === 1, 'one session held');
      now += 2000;
      // Nothing but the background sweep removes it (stats count expired sessions held).
      const deadline = Date.now() + 10_000;
      while (store.stats().sessions !== 0) {
        check(Date.now() < deadline, 'the sweep never removed the expired session');
        await new Promise((r) => setTimeout(r, 20));
      }
      check((await store.get(id)) === null, 'the expired session is gone');
    } finally {
      await store.close();
    }
  });
});

describeSessionStore({
  name: 'MapSessionStore (core fixture)',
  create: (options) => new MapSessionStore(options),
  runner,
});

describeSessionStore({
  name: 'MemorySessionStore',
  create: ({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser }) =>
    new MemorySessionStore({ clock, maxLifetimeMs, maxRecordBytes, maxSessionsPerUser }),
  destroy: (store) => store.close(),
  runner,
});

/** What the platform's timers and globals look like here (printed next to the counts). */
function platformInfo() {
  const handle = setTimeout(() => {}, 0);
  clearTimeout(handle);
  return {
    timerHandle:
      typeof handle === 'number' ? 'number' : `object${typeof handle?.unref === 'function' ? ' with unref' : ''}`,
    buffer: typeof globalThis.Buffer === 'function',
    process: typeof globalThis.process === 'object',
  };
}

globalThis.__sessionkitRuntimeTests = async () => {
  // store-jwt's tests need keys made with Web Crypto first (asynchronously).
  const notes = await registerJwtTests();
  return { info: { ...platformInfo(), notes }, results: await runAll() };
};
