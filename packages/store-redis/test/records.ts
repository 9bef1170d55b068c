// The clock and record builder the layout and hardening tests share.
import { type SessionRecord, tenantId } from '@sessionkit/core';

export const HOUR = 3_600_000;

/** A clock the test moves by setting `t`. */
export class Clock {
  t = Date.now();
  now = () => this.t;
}

/** A valid record for alice in tenant acme, created now on `clock` (override any field). */
export function record(clock: Clock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: '',
    userId: 'alice',
    tenantId: tenantId('acme'),
    transactionId: '',
    factorsUsed: [],
    assuranceLevel: 1,
    metadata: { x: 1 },
    createdAt: new Date(clock.t),
    expiresAt: new Date(clock.t + HOUR),
    lastActivityAt: new Date(clock.t),
    ...overrides,
  };
}
