// The conformance suite must fail stores that have the bugs it exists to catch. Each
// buggy store (test/fixtures/buggy-stores.mjs) differs from the README example store by
// one bug; the suite is run against it through a recording runner, and the named tests
// must fail. The correct store must fail none.
import { describe, expect, it } from 'vitest';
import type { SessionStore } from '../src/index.js';
import { describeSessionStore } from '../src/testing/index.js';
import type { ConformanceStoreOptions, DescribeSessionStoreOptions } from '../src/testing/types.js';
// @ts-expect-error: plain-JS fixtures
import { bugOptions, bugs, correct } from './fixtures/buggy-stores.mjs';
// @ts-expect-error: plain-JS fixture
import { MapSessionStore } from './fixtures/map-store.mjs';

type Factory = (o: ConformanceStoreOptions) => SessionStore;

type SuiteOptions = Pick<DescribeSessionStoreOptions, 'capabilities' | 'stateless' | 'backendExpires'>;

async function failingTests(create: Factory, options: SuiteOptions = {}): Promise<string[]> {
  const tests: { name: string; fn: () => Promise<void> }[] = [];
  const path: string[] = [];
  const it = Object.assign(
    (name: string, fn: () => Promise<void>) => tests.push({ name: [...path, name].join(' > '), fn }),
    {
      skip: () => {},
    },
  );
  const describeFn = (name: string, fn: () => void) => {
    path.push(name);
    fn();
    path.pop();
  };
  describeSessionStore({
    ...options,
    name: 'probe',
    create,
    runner: { describe: describeFn, it },
    propertyRuns: 10,
    raceRounds: 5,
  });
  const failed: string[] = [];
  for (const t of tests) {
    try {
      await t.fn();
    } catch {
      failed.push(t.name);
    }
  }
  return failed;
}

const expectations: Record<string, string[]> = {
  overwrite: ['rejects CONFLICT and keeps the original'],
  offByOneExpiry: ['EXPIRED at exactly expiresAt'],
  expiredIsNull: ['valid until expiresAt, EXPIRED at exactly expiresAt'],
  naiveKeys: ['collide under naive key building', 'random tenant and user ids never share sessions'],
  resurrect: ['never bring it back'],
  sharedObjects: ['mutating input or output changes nothing stored'],
  syncTypeError: ['rejects INVALID for a non-string id'],
  countsExpired: ['counts unexpired ones'],
  ignoresMaxLifetime: ['maxLifetimeMs caps expiresAt', 'extend caps expiresAt', 'update caps expiresAt'],
  wrongCleanupCount: ['returns how many', 'removes each session once'],
  dropsNul: ['create generates an id and get returns the record deep-equal'],
  naiveIndexKey: ['collide under naive key building'],
  staleIndexNoOwnerCheck: ['ownership: an id reused by another tenant', 'ownership: an id reused by another user'],
  staleIndexAfterBackendDrop: ['ownership: an id the backend dropped by itself'],
  acceptsFutureCreatedAt: [
    'rejects a createdAt later than now',
    'cannot be stretched by a future createdAt',
    'for every kind of bad record',
  ],
  ignoresMaxSessionsPerUser: [
    'maxSessionsPerUser: a create past the bound',
    'maxSessionsPerUser: expired sessions still recorded',
    'maxSessionsPerUser: ties',
    'maxSessionsPerUser: concurrent creates',
    'maxSessionsPerUser: a value that is not an integer',
  ],
  evictsOldestCreated: ['maxSessionsPerUser: a create past the bound'],
  staleCacheAfterDeleteByUser: ['mutations racing deleteByUser never bring sessions back'],
  coercesLastActivityAt: ["whenever core's validation rejects a record"],
  cleanupCountsNothing: ['cleanupExpired removes expired sessions', 'cleanupExpired from many callers'],
  deleteByUserCountsNothing: ['counts unexpired ones', 'ownership: an id reused by another user'],
  statelessMetadataByUser: ['the same user id in two tenants never shares data'],
  limitOneByteShort: ['maxRecordBytes: the exact boundary holds for store-issued ids too'],
};

describe('the conformance suite catches broken stores', () => {
  it('passes the correct store', async () => {
    expect(await failingTests((o) => new MapSessionStore(o))).toEqual([]);
  });
  for (const [name, { create, ...options }] of Object.entries(
    correct as Record<string, SuiteOptions & { create: Factory }>,
  )) {
    it(`passes the correct store "${name}"`, async () => {
      expect(await failingTests(create, options)).toEqual([]);
    });
  }
  for (const [bug, mustFail] of Object.entries(expectations)) {
    it(`fails a store with the bug "${bug}"`, async () => {
      const failed = await failingTests(bugs[bug], (bugOptions as Record<string, SuiteOptions>)[bug]);
      for (const fragment of mustFail) {
        expect(
          failed.some((name) => name.includes(fragment)),
          `${fragment} should fail; failed: ${failed.join('\n')}`,
        ).toBe(true);
      }
    });
  }
});
