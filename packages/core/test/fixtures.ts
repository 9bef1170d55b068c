import { resolveRecordRules, SessionError, type SessionRecord, tenantId } from '../src/index.js';

/** The frozen time of the unit tests, in ms. */
export const NOW = 1_700_000_000_000;

/** Record rules of a store named `test` whose clock reads {@link NOW}. */
export const rules = resolveRecordRules('test', { clock: () => NOW });

/** A small valid record, alive for 100 s after {@link NOW}. */
export function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: 'sid',
    userId: 'u',
    tenantId: tenantId('t'),
    transactionId: '',
    factorsUsed: [],
    assuranceLevel: 1,
    metadata: null,
    createdAt: new Date(NOW),
    expiresAt: new Date(NOW + 100_000),
    lastActivityAt: new Date(NOW),
    ...overrides,
  };
}

/** The SessionError `fn` throws synchronously (fails the test when it throws anything else or nothing). */
export function thrown(fn: () => unknown): SessionError {
  try {
    fn();
  } catch (error) {
    if (SessionError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}
