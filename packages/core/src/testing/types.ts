import type { StoreCapabilities } from '../capabilities.js';
import type { SessionStore } from '../store.js';

/** A test function as runners take it. */
export type ConformanceTestFn = () => Promise<void>;

/**
 * The parts of a test runner the suite needs: vitest's, jest's and `node:test`'s
 * `describe` and `it` all fit (`it.skip` is used to report what a store's capabilities
 * rule out, so skips show by name in the runner's report).
 */
export interface ConformanceRunner {
  describe(name: string, fn: () => void): unknown;
  it: {
    (name: string, fn: ConformanceTestFn): unknown;
    skip(name: string, fn: ConformanceTestFn): unknown;
  };
}

/** What the suite passes to your factory for each test. */
export interface ConformanceStoreOptions {
  /**
   * The test's clock (ms since the epoch). It starts at the real time and only moves
   * when a test advances it. Pass it to the store as its `clock` option.
   */
  clock: () => number;
  /** Set by the tests of `maxLifetimeMs`; pass it through when defined. */
  maxLifetimeMs?: number;
  /** Set by the tests of `maxRecordBytes`; pass it through when defined. */
  maxRecordBytes?: number;
  /**
   * Set by the tests of `maxSessionsPerUser`; pass it through when defined (every
   * server-side store takes it). The rule they check: a create for a (tenantId, userId)
   * that already holds `maxSessionsPerUser` or more sessions (expired ones still recorded
   * count) removes, in the same atomic step, that user's existing sessions with the
   * soonest `expiresAt` (ties: earliest `createdAt`, then smallest id) until the user holds
   * exactly `maxSessionsPerUser` including the new one. The new session is never the one
   * removed; removed sessions are gone as if deleted (`get` resolves `null`). The tests
   * run for stores with the `list` capability; a value that is not an integer from 1 to
   * 1,000,000 is `INVALID` naming `maxSessionsPerUser`.
   */
  maxSessionsPerUser?: number;
  /**
   * Set (to 0) by the tests of sessions the backend drops by itself, which run only with
   * `backendExpires: true`; a store that takes `expiredRetentionMs` passes it through when
   * defined.
   */
  expiredRetentionMs?: number;
}

export interface DescribeSessionStoreOptions<S extends SessionStore = SessionStore> {
  /** Shown as the outer `describe` name, for example `RedisSessionStore (cluster)`. */
  name: string;
  /**
   * Builds a fresh store for one test. It must see no session written through any
   * other store the suite created (give each one its own key prefix, table or
   * database), because the suite asserts exact counts. Its capabilities decide which
   * tests run.
   */
  create(options: ConformanceStoreOptions): S | Promise<S>;
  /** Tears one store down after its test (drop its keys or table). Default: `store.close()`. */
  destroy?(store: S): void | Promise<void>;
  /**
   * The capabilities the store is expected to declare (the suite decides from them which
   * tests run, and its first test checks the store declares exactly these).
   * @default every capability true (a server-side store)
   */
  capabilities?: StoreCapabilities;
  /**
   * The store keeps no session records: its ids are self-contained tokens (store-jwt).
   * Such a store cannot count, so `deleteByUser` resolves 0; its `cleanupExpired` drops
   * revocation entries (token ids denied by `delete`) whose tokens have expired and
   * resolves with how many. Every other store, with or without `list`, counts: its
   * `deleteByUser` resolves with the number of unexpired sessions it removed and its
   * `cleanupExpired` with the number of session records it removed. A stateless store
   * must declare `list`, `mutate` and `customIds` false (the first test checks it).
   * @default false
   */
  stateless?: boolean;
  /**
   * The backend drops expired data by itself (Redis and memcached expire keys at
   * `expiresAt + expiredRetentionMs`). Set it, and pass `expiredRetentionMs` through in
   * `create`, to run the tests of what happens after the backend dropped a session while
   * an index still names it (ownership of a reused id). They wait in real time, about a
   * second, for the backend to drop the session; without this option they are reported
   * as skipped.
   * @default false
   */
  backendExpires?: boolean;
  /** Your runner's `describe` and `it`: `import { describe, it } from 'vitest'` or `'node:test'`. */
  runner: ConformanceRunner;
  /** fast-check runs per property test. @default 15 */
  propertyRuns?: number;
  /** Repetitions of each race test. @default 8 */
  raceRounds?: number;
}
