// Contract: create rejects a createdAt later than now (INVALID naming record.createdAt),
// so maxLifetimeMs cannot be stretched from a future start.
import { describe, expect, it } from 'vitest';
import { checkRecord, resolveRecordRules, SessionError } from '../src/index.js';
import { NOW, record, rules } from './fixtures.js';

function rejection(run: () => unknown): SessionError {
  try {
    run();
  } catch (error) {
    if (SessionError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a SessionError, but it passed');
}

describe('createdAt in create', () => {
  it('is INVALID naming record.createdAt when later than now, by any amount', () => {
    for (const ahead of [1, 1000, 10 * 365 * 24 * 3600_000]) {
      const input = record({ createdAt: new Date(NOW + ahead), expiresAt: new Date(NOW + ahead + 100_000) });
      for (const output of ['shared', 'copy', 'encoded'] as const) {
        const error = rejection(() => checkRecord(rules, input, { operation: 'create', output }));
        expect(error.code).toBe('INVALID');
        expect(error.field).toBe('record.createdAt');
        expect(error.message).toContain('record.createdAt');
      }
    }
  });

  it('accepts createdAt equal to now and in the past', () => {
    for (const createdAt of [NOW, NOW - 1, NOW - 86_400_000]) {
      const valid = checkRecord(rules, record({ createdAt: new Date(createdAt) }), { operation: 'create' });
      expect(valid.record.createdAt.getTime()).toBe(createdAt);
    }
  });

  it('closes the maxLifetimeMs bypass: a session 10 years ahead with a 1 h cap is INVALID', () => {
    const capped = resolveRecordRules('test', { clock: () => NOW, maxLifetimeMs: 3600_000 });
    const decade = 10 * 365 * 24 * 3600_000;
    const input = record({ createdAt: new Date(NOW + decade), expiresAt: new Date(NOW + decade + 1800_000) });
    expect(rejection(() => checkRecord(capped, input, { operation: 'create' })).field).toBe('record.createdAt');
  });

  it('is not checked again in update, where createdAt must equal the stored value', () => {
    const input = record({ createdAt: new Date(NOW + 5), expiresAt: new Date(NOW + 100_000) });
    expect(checkRecord(rules, input, { operation: 'update' }).record.createdAt.getTime()).toBe(NOW + 5);
  });
});
