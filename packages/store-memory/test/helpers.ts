import v8 from 'node:v8';
import vm from 'node:vm';
import { type JsonValue, SessionError, type SessionErrorCode, type SessionRecord, tenantId } from '@sessionkit/core';
import { expect } from 'vitest';

/** A clock that only moves when told to (starts at a fixed, second-aligned time). */
export function testClock(start = 1_764_000_000_000) {
  const clock = { now: start, read: () => clock.now, advance: (ms: number) => void (clock.now += ms) };
  return clock;
}

export const acme = tenantId('acme');

export function makeRecord(
  now: number,
  overrides: Partial<Omit<SessionRecord, 'tenantId'>> & { tenantId?: string; ttl?: number } = {},
): SessionRecord {
  const { ttl = 60_000, tenantId: tenant, ...rest } = overrides;
  return {
    id: '',
    userId: 'user-1',
    tenantId: tenantId(tenant ?? 'acme'),
    transactionId: 'tx-1',
    factorsUsed: ['password'],
    assuranceLevel: 1,
    metadata: { ip: '203.0.113.7', nested: { list: [1, 'two', { three: 3 }] } } as JsonValue,
    createdAt: new Date(now),
    expiresAt: new Date(now + ttl),
    lastActivityAt: new Date(now),
    ...rest,
  };
}

/** Asserts that `promise` rejects with a SessionError of `code` (and field, when given). */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: SessionErrorCode,
  field?: string,
): Promise<SessionError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(SessionError.isInstance(caught), `expected a SessionError ${code}, got ${String(caught)}`).toBe(true);
  const error = caught as SessionError;
  expect(error.code).toBe(code);
  if (field !== undefined) expect(error.field).toBe(field);
  return error;
}

let collect: (() => void) | undefined;

/** Heap bytes in use after two full garbage collections (gc exposed on first use). */
export function heapUsedAfterGc(): number {
  if (collect === undefined) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}
