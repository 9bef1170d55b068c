import { describe, expect, it } from 'vitest';
import {
  checkExtendArgs,
  checkLive,
  checkUpdateTarget,
  conflict,
  corrupt,
  DEFAULT_EXPIRED_RETENTION_MS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  describeError,
  expired,
  guard,
  invalidInput,
  invalidOption,
  type KnownOptions,
  MAX_DATE_MS,
  MAX_TIMER_MS,
  notFound,
  readCommonOptions,
  SessionError,
  type SessionErrorCode,
  storageError,
  tenantId,
  timerOption,
  toStorageError,
  unsupported,
} from '../src/index.js';
import { NOW, record, rules, thrown } from './fixtures.js';

function expectError(error: SessionError, code: SessionErrorCode, message: string, field?: string): void {
  expect(error.code).toBe(code);
  expect(error.message).toBe(message);
  expect(error.field).toBe(field);
}

describe('error helpers', () => {
  it('build each code with the store, operation and field in the message and properties', () => {
    expectError(notFound('kv', 'touch'), 'NOT_FOUND', '[sessionkit/kv] touch: no session with that id', 'id');
    expectError(
      expired('kv', 'extend'),
      'EXPIRED',
      '[sessionkit/kv] extend: the session has expired; sign the user in again',
      'id',
    );
    expectError(
      conflict('kv'),
      'CONFLICT',
      '[sessionkit/kv] create: a session with that id already exists; it was not overwritten',
      'record.id',
    );
    expectError(
      unsupported('kv', 'listByUser', 'this store keeps no index'),
      'UNSUPPORTED',
      '[sessionkit/kv] listByUser: listByUser is not supported: this store keeps no index',
    );
    expectError(
      invalidOption('kv', 'prefix', 'must be a string'),
      'INVALID',
      '[sessionkit/kv] constructor: option prefix must be a string',
      'prefix',
    );
    expect(invalidOption('kv', 'prefix', 'x').operation).toBe('constructor');
    expectError(
      invalidInput('kv', 'get', 'id', 'must be a string'),
      'INVALID',
      '[sessionkit/kv] get: id must be a string',
      'id',
    );
  });

  it('corrupt and storageError are STORAGE with a cause, the given one or one made from the detail', () => {
    const given = new Error('bad utf-8');
    const c = corrupt('kv', 'get', 'not a sessionkit record', given);
    expectError(c, 'STORAGE', '[sessionkit/kv] get: stored data is corrupt: not a sessionkit record');
    expect(c.cause).toBe(given);
    const made = corrupt('kv', 'get', 'truncated');
    expect((made.cause as Error).message).toBe('truncated');
    const s = storageError('kv', 'cleanupExpired', 'node 10.0.0.1:7000 is closed');
    expectError(s, 'STORAGE', '[sessionkit/kv] cleanupExpired: node 10.0.0.1:7000 is closed');
    expect(s.cause).toBeInstanceOf(Error);
  });

  it('describeError never throws, whatever was thrown', () => {
    expect(describeError(new TypeError('boom'))).toBe('boom');
    expect(describeError('text')).toBe('text');
    expect(describeError(42)).toBe('42');
    expect(describeError(Object.create(null))).toBe('a value that cannot be converted to a string');
    expect(toStorageError(Object.create(null), 'kv', 'get').message).toBe(
      '[sessionkit/kv] get: backend failed: a value that cannot be converted to a string',
    );
  });

  it('guard turns a synchronous throw and a rejection into STORAGE, and passes a SessionError through', async () => {
    const sync = await guard('kv', 'get', () => {
      throw new RangeError('sync');
    }).catch((e: unknown) => e);
    expect(SessionError.hasCode(sync, 'STORAGE')).toBe(true);
    expect((sync as SessionError).message).toBe('[sessionkit/kv] get: backend failed: sync');
    expect((sync as SessionError).cause).toBeInstanceOf(RangeError);

    const rejected = await guard('kv', 'touch', () => Promise.reject('down')).catch((e: unknown) => e);
    expect((rejected as SessionError).message).toBe('[sessionkit/kv] touch: backend failed: down');

    const own = notFound('kv', 'touch');
    await expect(guard('kv', 'touch', () => Promise.reject(own))).rejects.toBe(own);
    await expect(guard('kv', 'get', () => 7)).resolves.toBe(7);
  });
});

interface KvOptions {
  client?: object;
  prefix?: string;
  clock?: () => number;
  maxLifetimeMs?: number;
  maxRecordBytes?: number;
  operationTimeoutMs?: number;
  expiredRetentionMs?: number;
  maxSessionsPerUser?: number;
  telemetry?: false;
}
const KNOWN: KnownOptions<KvOptions> = {
  client: true,
  prefix: true,
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  operationTimeoutMs: true,
  expiredRetentionMs: true,
  maxSessionsPerUser: true,
  telemetry: true,
};
const ALL = { server: true, backendExpires: true, perUser: true } as const;

describe('readCommonOptions', () => {
  it('gives the defaults and returns the options object for the store-specific options', () => {
    const input = { prefix: 'app:' };
    const common = readCommonOptions('kv', input, KNOWN, ALL);
    expect(common.options).toBe(input);
    expect(common.operationTimeoutMs).toBe(DEFAULT_OPERATION_TIMEOUT_MS);
    expect(common.expiredRetentionMs).toBe(DEFAULT_EXPIRED_RETENTION_MS);
    expect(common.maxSessionsPerUser).toBe(1000);
    expect(common.deadlines?.ms).toBe(DEFAULT_OPERATION_TIMEOUT_MS);
    expect(common.rules.store).toBe('kv');
    expect(common.rules.maxRecordBytes).toBe(64 * 1024);
    expect(common.rules.maxLifetimeMs).toBeUndefined();
  });

  it('reads each given option', () => {
    const clock = () => NOW;
    const common = readCommonOptions(
      'kv',
      {
        clock,
        maxLifetimeMs: 3_600_000,
        maxRecordBytes: 4096,
        operationTimeoutMs: 250,
        expiredRetentionMs: 0,
        maxSessionsPerUser: 3,
      },
      KNOWN,
      ALL,
    );
    expect(common.rules.clock).toBe(clock);
    expect(common.rules.maxLifetimeMs).toBe(3_600_000);
    expect(common.rules.maxRecordBytes).toBe(4096);
    expect(common.operationTimeoutMs).toBe(250);
    expect(common.deadlines?.ms).toBe(250);
    expect(common.expiredRetentionMs).toBe(0);
    expect(common.maxSessionsPerUser).toBe(3);
  });

  it('rejects a non-object, an unknown option and each bad common option INVALID naming it', () => {
    expect(thrown(() => readCommonOptions('kv', null, KNOWN, ALL)).field).toBe('options');
    expect(thrown(() => readCommonOptions('kv', [], KNOWN, ALL)).field).toBe('options');
    const unknown = thrown(() => readCommonOptions('kv', { prefx: 'a' }, KNOWN, ALL));
    expect(unknown.message).toBe('[sessionkit/kv] constructor: unknown option prefx: did you mean prefix?');
    const bad: Array<[keyof KvOptions, unknown]> = [
      ['clock', 5],
      ['maxLifetimeMs', -1],
      ['maxRecordBytes', 255],
      ['operationTimeoutMs', 0],
      ['operationTimeoutMs', 1.5],
      ['operationTimeoutMs', MAX_TIMER_MS + 1],
      ['operationTimeoutMs', '5000'],
      ['expiredRetentionMs', -1],
      ['expiredRetentionMs', MAX_DATE_MS + 1],
      ['maxSessionsPerUser', 0],
      ['maxSessionsPerUser', 1_000_001],
    ];
    for (const [option, value] of bad) {
      const error = thrown(() => readCommonOptions('kv', { [option]: value }, KNOWN, ALL));
      expect(error.code, `${option}=${String(value)}`).toBe('INVALID');
      expect(error.field).toBe(option);
      expect(error.message).toContain(`option ${option} `);
    }
    expect(readCommonOptions('kv', { operationTimeoutMs: MAX_TIMER_MS }, KNOWN, ALL).operationTimeoutMs).toBe(
      MAX_TIMER_MS,
    );
  });

  it('reads only the kinds asked for: the others keep their defaults, and no deadlines without server', () => {
    const local = readCommonOptions(
      'kv',
      { operationTimeoutMs: 0, expiredRetentionMs: -1, maxSessionsPerUser: 0 },
      KNOWN,
      {},
    );
    expect(local.deadlines).toBeUndefined();
    expect(local.operationTimeoutMs).toBe(DEFAULT_OPERATION_TIMEOUT_MS);
    expect(local.expiredRetentionMs).toBe(DEFAULT_EXPIRED_RETENTION_MS);
    expect(local.maxSessionsPerUser).toBe(1000);
  });

  it('timerOption accepts 1 to MAX_TIMER_MS, the one bound of every option that arms a timer', () => {
    expect(timerOption('kv', 'cleanupIntervalMs', undefined, 60_000)).toBe(60_000);
    expect(timerOption('kv', 'cleanupIntervalMs', 1, 60_000)).toBe(1);
    expect(timerOption('kv', 'cleanupIntervalMs', MAX_TIMER_MS, 60_000)).toBe(MAX_TIMER_MS);
    for (const value of [0, MAX_TIMER_MS + 1, 2.5, Number.NaN]) {
      const error = thrown(() => timerOption('kv', 'cleanupIntervalMs', value, 60_000));
      expect(error.field).toBe('cleanupIntervalMs');
      expect(error.message).toBe(
        `[sessionkit/kv] constructor: option cleanupIntervalMs must be an integer from 1 to ${MAX_TIMER_MS}, got ${value}`,
      );
    }
  });
});

describe("the contract's orderings", () => {
  const stored = { userId: 'u', tenantId: 't', createdAtMs: NOW, expiresAtMs: NOW + 1000 };

  it('checkLive: NOT_FOUND for no session, EXPIRED at and after expiresAt, nothing before', () => {
    expect(thrown(() => checkLive('kv', 'touch', undefined, NOW)).code).toBe('NOT_FOUND');
    expect(thrown(() => checkLive('kv', 'touch', NOW, NOW)).code).toBe('EXPIRED');
    expect(thrown(() => checkLive('kv', 'touch', NOW - 1, NOW)).code).toBe('EXPIRED');
    expect(() => checkLive('kv', 'touch', NOW + 1, NOW)).not.toThrow();
  });

  it('checkUpdateTarget: NOT_FOUND before EXPIRED before the immutable fields', () => {
    const changed = record({ userId: 'someone-else', tenantId: tenantId('t2'), createdAt: new Date(NOW - 5) });
    expect(thrown(() => checkUpdateTarget(rules, undefined, changed, NOW)).code).toBe('NOT_FOUND');
    const old = { ...stored, expiresAtMs: NOW };
    const e = thrown(() => checkUpdateTarget(rules, old, changed, NOW));
    expect([e.code, e.operation]).toEqual(['EXPIRED', 'update']);
    expect(thrown(() => checkUpdateTarget(rules, stored, changed, NOW)).field).toBe('record.userId');
    expect(thrown(() => checkUpdateTarget(rules, stored, record({ tenantId: tenantId('t2') }), NOW)).field).toBe(
      'record.tenantId',
    );
    expect(thrown(() => checkUpdateTarget(rules, stored, record({ createdAt: new Date(NOW + 1) }), NOW)).field).toBe(
      'record.createdAt',
    );
    expect(() => checkUpdateTarget(rules, stored, record(), NOW)).not.toThrow();
  });

  it('checkExtendArgs: a non-string id before a bad duration; a malformed id is only "not named"', () => {
    expect(thrown(() => checkExtendArgs(rules, 42, -1)).field).toBe('id');
    expect(thrown(() => checkExtendArgs(rules, 'sid', 0)).field).toBe('durationMs');
    expect(thrown(() => checkExtendArgs(rules, '', 1.5)).field).toBe('durationMs');
    expect(checkExtendArgs(rules, '', 1000)).toEqual({ named: false, durationMs: 1000 });
    expect(checkExtendArgs(rules, 'a\u0000b', 1000).named).toBe(false);
    expect(checkExtendArgs(rules, 'sid', 1000)).toEqual({ named: true, durationMs: 1000 });
  });
});

describe('readClock', () => {
  it('a clock that throws is STORAGE with the error as cause; a bad value is INVALID naming clock', async () => {
    const { readClock, resolveRecordRules } = await import('../src/index.js');
    const boom = new Error('boom');
    const throwing = resolveRecordRules('kv', {
      clock: () => {
        throw boom;
      },
    });
    const e = thrown(() => readClock(throwing));
    expectError(e, 'STORAGE', '[sessionkit/kv] clock() threw: boom', 'clock');
    expect(e.cause).toBe(boom);
    const bad = thrown(() => readClock(resolveRecordRules('kv', { clock: () => Number.NaN })));
    expect([bad.code, bad.field]).toEqual(['INVALID', 'clock']);
    expect(invalidInput('kv', 'create', 'record', 'could not be read', boom).cause).toBe(boom);
  });
});

describe('toStorageError', () => {
  it("gives a SessionError without an operation the catching method's, and leaves every other one as it is", async () => {
    const { readClock, resolveRecordRules } = await import('../src/index.js');
    const rules = resolveRecordRules('kv', {
      clock: () => {
        throw new Error('boom');
      },
    });
    const raw = thrown(() => readClock(rules));
    expect(raw.operation).toBeUndefined();
    const named = toStorageError(raw, 'kv', 'touch');
    expectError(named, 'STORAGE', '[sessionkit/kv] touch: clock() threw: boom', 'clock');
    expect([named.operation, named.cause]).toEqual(['touch', raw.cause]);
    const own = notFound('kv', 'get');
    expect(toStorageError(own, 'kv', 'touch')).toBe(own);
    const otherStore = new SessionError('STORAGE', 'x', { store: 'redis' });
    expect(toStorageError(otherStore, 'kv', 'touch')).toBe(otherStore);
    await expect(guard('kv', 'extend', () => readClock(rules))).rejects.toMatchObject({
      operation: 'extend',
      message: '[sessionkit/kv] extend: clock() threw: boom',
    });
  });
});
