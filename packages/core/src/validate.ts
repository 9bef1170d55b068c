import { encodeRecord, recordBytesWithoutMetadata } from './codec.js';
import { describeError, expired, invalidInput, invalidOption, notFound, SessionError } from './errors.js';
import { checkJson, copyJsonBounded, measureJson, utf8Bytes } from './json.js';
import { MAX_DATE_MS } from './limits.js';
import type { SessionRecord } from './record.js';
import type { BaseStoreOptions } from './store.js';
import { describeType, identifierProblem, type TenantId } from './tenant.js';

/** Default for `maxRecordBytes`: 64 KiB. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;
/** Default for `expiredRetentionMs`: one hour. */
export const DEFAULT_EXPIRED_RETENTION_MS = 60 * 60 * 1000;
/** Default for `operationTimeoutMs`: five seconds. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 5000;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * The record rules of one store, resolved once from its options by
 * {@link resolveRecordRules}. Stores pass it to every validation helper.
 */
export interface RecordRules {
  /** Short store name for messages, for example `redis`. */
  readonly store: string;
  readonly clock: () => number;
  readonly maxLifetimeMs: number | undefined;
  readonly maxRecordBytes: number;
}

/**
 * A value for a message: `String(value)`, or its type when that throws (an object with
 * no usable `toString`, such as `Object.create(null)` or `[{ toString: 0 }]`), so a bad
 * input is always reported as INVALID, never as the TypeError of describing it.
 */
function show(value: unknown): string {
  try {
    return String(value);
  } catch {
    return describeType(value);
  }
}

/**
 * Reads a duration option: `undefined` gives `fallback`; anything else must be an integer
 * within [min, max] (throws `INVALID` naming the option, as constructors must).
 */
export function durationOption(
  store: string,
  option: string,
  value: unknown,
  fallback: number,
  { min = 1, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(store, option, `must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/** Throws `INVALID` naming the store and option unless `options` is an object. */
export function assertOptionsObject(store: string, options: unknown): asserts options is Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidOption(store, 'options', `must be an object, got ${describeType(options)}`);
  }
}

/**
 * Resolves and checks the options every store takes (`clock`, `maxLifetimeMs`,
 * `maxRecordBytes`). Throws `INVALID` naming the bad option.
 */
export function resolveRecordRules(store: string, options: BaseStoreOptions): RecordRules {
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') {
    throw invalidOption(store, 'clock', `must be a function returning ms since the epoch, got ${describeType(clock)}`);
  }
  const maxLifetimeMs =
    options.maxLifetimeMs === undefined ? undefined : durationOption(store, 'maxLifetimeMs', options.maxLifetimeMs, 0);
  const maxRecordBytes = durationOption(store, 'maxRecordBytes', options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES, {
    min: 256,
  });
  return { store, clock, maxLifetimeMs, maxRecordBytes };
}

function invalid(rules: RecordRules, operation: string, field: string, problem: string): SessionError {
  return invalidInput(rules.store, operation, field, problem);
}

/**
 * The current time from the store's clock: `INVALID` naming `clock` when it returns
 * anything but a finite number, `STORAGE` (`clock() threw: ...`, the error as `cause`)
 * when it throws.
 */
export function readClock(rules: RecordRules): number {
  let value: unknown;
  try {
    value = rules.clock();
  } catch (error) {
    // The store's environment failed, not the caller's input: STORAGE, with the cause.
    throw new SessionError('STORAGE', `clock() threw: ${describeError(error)}`, {
      store: rules.store,
      field: 'clock',
      cause: error,
    });
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SessionError('INVALID', `clock() returned ${show(value)}; it must return ms since the epoch`, {
      store: rules.store,
      field: 'clock',
    });
  }
  return value;
}

function dateMs(rules: RecordRules, operation: string, field: string, value: unknown): number {
  if (!(value instanceof Date) && Object.prototype.toString.call(value) !== '[object Date]') {
    throw invalid(rules, operation, field, `must be a Date, got ${describeType(value)}`);
  }
  const ms = (value as Date).getTime();
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) throw invalid(rules, operation, field, 'is an invalid Date');
  return ms;
}

function identifier(rules: RecordRules, operation: string, field: string, value: unknown, allowEmpty: boolean): string {
  const problem = identifierProblem(value, allowEmpty);
  if (problem) throw invalid(rules, operation, field, problem);
  return value as string;
}

/** The outcome of validating a record: a private copy, capped, with its encoded size. */
export interface ValidRecord {
  /**
   * A copy of the caller's record with `expiresAt` capped and a fresh `factorsUsed`
   * array. `metadata` is the caller's value unless `output: 'copy'` was asked for.
   */
  record: SessionRecord;
  /**
   * UTF-8 bytes of `encodeRecord(record)`. With `output: 'copy'` it is counted on first
   * read (the size check itself needs only a bound unless the record is near the limit).
   */
  readonly bytes: number;
  /** The time the checks were made against (`clock()`), in ms. */
  now: number;
}

/** What {@link checkRecord} returns with `output: 'encoded'`. */
export interface EncodedRecord extends ValidRecord {
  /** Exactly `encodeRecord(record)`: write it as is. */
  encoded: string;
}

/** A `'copy'` result within the limit: `bytes` is counted on first read (rarely needed). */
class CopiedRecord implements ValidRecord {
  #bytes = -1;
  constructor(
    readonly record: SessionRecord,
    readonly now: number,
  ) {}
  get bytes(): number {
    if (this.#bytes < 0) {
      this.#bytes =
        recordBytesWithoutMetadata(this.record) +
        measureJson(this.record.metadata, 'record.metadata', undefined, 'measure');
    }
    return this.#bytes;
  }
}

/** Options of {@link checkRecord}. */
export interface CheckRecordOptions {
  operation: 'create' | 'update';
  /**
   * create: makes the id when `record.id` is `''` (omit to leave it empty, as store-jwt
   * does). Called once every other check has passed (before the size check, which
   * counts the id), with the validated `userId` and `tenantId`.
   */
  generateId?: ((owner: { userId: string; tenantId: TenantId }) => string) | undefined;
  /** create: whether a caller-chosen id is allowed (`customIds`). */
  customIds?: boolean;
  /**
   * What the one walk over `metadata` produces besides validation:
   * - `'shared'` (default): `record.metadata` is the caller's value; `bytes` is counted.
   * - `'copy'`: `record.metadata` is a private deep copy (for stores that keep records
   *   as objects; no {@link cloneRecord} needed afterwards).
   * - `'encoded'`: also returns `encoded`, the text of `encodeRecord(record)` (for stores
   *   that write it; no {@link encodeRecord} call needed afterwards).
   */
  output?: 'shared' | 'copy' | 'encoded';
}

/**
 * Validates a record for create or update in the contract's order and returns a copy
 * with `expiresAt` capped by `maxLifetimeMs`. Throws `INVALID` naming the field.
 *
 * `metadata` is walked once: checked, and measured, deep-copied or serialised as
 * `options.output` asks, so a store never needs a second pass over it. By default the
 * returned record shares `metadata` with the input; stores that keep records in memory
 * ask for `output: 'copy'`, stores that write core's encoding ask for `output: 'encoded'`.
 */
export function checkRecord(
  rules: RecordRules,
  input: unknown,
  options: CheckRecordOptions & { output: 'encoded' },
): EncodedRecord;
export function checkRecord(rules: RecordRules, input: unknown, options: CheckRecordOptions): ValidRecord;
export function checkRecord(rules: RecordRules, input: unknown, options: CheckRecordOptions): ValidRecord {
  const { operation } = options;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(rules, operation, 'record', `must be a SessionRecord object, got ${describeType(input)}`);
  }
  const r = input as Record<keyof SessionRecord, unknown>;
  const current = readClock(rules);

  let id: string;
  let generate = false;
  if (typeof r.id !== 'string')
    throw invalid(rules, operation, 'record.id', `must be a string, got ${describeType(r.id)}`);
  if (operation === 'create') {
    if (r.id === '') {
      id = '';
      generate = options.generateId !== undefined;
    } else {
      if (options.customIds === false) {
        throw new SessionError(
          'INVALID',
          'record.id must be empty: this store issues its own ids (capability customIds is false)',
          { store: rules.store, operation, field: 'record.id' },
        );
      }
      id = identifier(rules, operation, 'record.id', r.id, false);
    }
  } else {
    id = r.id; // update: a malformed id simply names no session (NOT_FOUND)
  }
  const userId = identifier(rules, operation, 'record.userId', r.userId, false);
  const tenant = identifier(rules, operation, 'record.tenantId', r.tenantId, false) as TenantId;
  const transactionId = identifier(rules, operation, 'record.transactionId', r.transactionId, true);
  if (!Array.isArray(r.factorsUsed)) {
    throw invalid(
      rules,
      operation,
      'record.factorsUsed',
      `must be an array of strings, got ${describeType(r.factorsUsed)}`,
    );
  }
  const factorsUsed: string[] = new Array(r.factorsUsed.length);
  for (let i = 0; i < r.factorsUsed.length; i++) {
    factorsUsed[i] = identifier(rules, operation, `record.factorsUsed[${i}]`, r.factorsUsed[i], true);
  }
  const level = r.assuranceLevel;
  if (typeof level !== 'number' || !Number.isInteger(level) || level < INT32_MIN || level > INT32_MAX) {
    throw invalid(rules, operation, 'record.assuranceLevel', `must be an int32 integer, got ${show(level)}`);
  }
  const output = options.output ?? 'shared';
  let metadata = r.metadata as SessionRecord['metadata'];
  // Exact bytes ('shared'), or an upper bound ('copy'); 'encoded' measures the text.
  let metadataBytes = 0;
  if (output === 'encoded') checkJson(metadata, 'record.metadata', rules.store, operation);
  else if (output === 'copy') {
    const copied = copyJsonBounded(metadata, 'record.metadata', rules.store, operation);
    metadata = copied.value;
    metadataBytes = copied.maxBytes;
  } else metadataBytes = measureJson(metadata, 'record.metadata', rules.store, operation);
  const createdAt = dateMs(rules, operation, 'record.createdAt', r.createdAt);
  let expiresAt = dateMs(rules, operation, 'record.expiresAt', r.expiresAt);
  const lastActivityAt = dateMs(rules, operation, 'record.lastActivityAt', r.lastActivityAt);
  // A session cannot start in the future: a future createdAt would stretch maxLifetimeMs
  // (and any bound that rests on it, such as store-jwt's per-user revocation entries).
  // Checked in create only: in update createdAt must equal the stored one, which passed
  // this check when it was created, and checking again would fail a caller whose clock
  // runs behind the creating process's.
  if (operation === 'create' && createdAt > current) {
    throw invalid(
      rules,
      operation,
      'record.createdAt',
      `is ${createdAt - current} ms later than now; a session cannot start in the future`,
    );
  }
  if (expiresAt <= createdAt)
    throw invalid(rules, operation, 'record.expiresAt', 'must be later than record.createdAt');
  if (expiresAt <= current) throw invalid(rules, operation, 'record.expiresAt', 'must be in the future');
  if (rules.maxLifetimeMs !== undefined) {
    const cap = createdAt + rules.maxLifetimeMs;
    if (operation === 'create' && cap <= current) {
      throw invalid(
        rules,
        operation,
        'record.createdAt',
        `is more than maxLifetimeMs (${rules.maxLifetimeMs} ms) ago, so the session could never be valid`,
      );
    }
    if (expiresAt > cap) expiresAt = cap;
  }
  if (generate)
    id = (options.generateId as NonNullable<CheckRecordOptions['generateId']>)({ userId, tenantId: tenant });
  const record: SessionRecord = {
    id,
    userId,
    tenantId: tenant,
    transactionId,
    factorsUsed,
    assuranceLevel: level,
    metadata,
    createdAt: new Date(createdAt),
    expiresAt: new Date(expiresAt),
    lastActivityAt: new Date(lastActivityAt),
  };
  let encoded: string | undefined;
  let bytes: number;
  if (output === 'encoded') {
    // JSON.stringify escapes lone surrogates, so the text is well-formed and its UTF-8
    // length is exactly what a backend stores.
    encoded = encodeRecord(record);
    bytes = utf8Bytes(encoded);
  } else {
    bytes = recordBytesWithoutMetadata(record) + metadataBytes;
    if (output === 'copy') {
      // metadataBytes is a bound: within the limit, the exact size waits until asked for.
      if (bytes <= rules.maxRecordBytes) return new CopiedRecord(record, current);
      bytes = bytes - metadataBytes + measureJson(metadata, 'record.metadata', rules.store, operation);
    }
  }
  if (bytes > rules.maxRecordBytes) {
    throw invalid(
      rules,
      operation,
      'record',
      `is ${bytes} bytes encoded, over maxRecordBytes (${rules.maxRecordBytes}); keep large data out of metadata`,
    );
  }
  return encoded === undefined
    ? { record, bytes, now: current }
    : ({ record, bytes, now: current, encoded } as EncodedRecord);
}

/**
 * For update: throws `INVALID` when userId, tenantId or createdAt differ from the stored
 * session (call after the existence and expiry checks; {@link checkUpdateTarget} does all three).
 */
export function checkImmutableFields(
  rules: RecordRules,
  stored: Pick<SessionRecord, 'userId' | 'tenantId' | 'createdAt'>,
  next: Pick<SessionRecord, 'userId' | 'tenantId' | 'createdAt'>,
): void {
  immutableFields(rules, stored.userId, stored.tenantId, stored.createdAt.getTime(), next);
}

function immutableFields(
  rules: RecordRules,
  userId: string,
  tenant: string,
  createdAtMs: number,
  next: Pick<SessionRecord, 'userId' | 'tenantId' | 'createdAt'>,
): void {
  if (userId !== next.userId) throw invalid(rules, 'update', 'record.userId', 'cannot change after create');
  if (tenant !== next.tenantId) throw invalid(rules, 'update', 'record.tenantId', 'cannot change after create');
  if (createdAtMs !== next.createdAt.getTime()) {
    throw invalid(rules, 'update', 'record.createdAt', 'cannot change after create');
  }
}

/**
 * Checks an id argument: throws `INVALID` for a non-string; returns `false` for a string
 * that can name no session (empty, too long, control characters), which callers treat as
 * "missing"; `true` otherwise.
 */
export function checkId(rules: RecordRules, operation: string, id: unknown): id is string {
  if (typeof id !== 'string') throw invalid(rules, operation, 'id', `must be a string, got ${describeType(id)}`);
  return identifierProblem(id, false) === undefined;
}

/** Checks the (userId, tenantId) arguments of listByUser and deleteByUser. */
export function checkUserArgs(rules: RecordRules, operation: string, userId: unknown, tenant: unknown): void {
  identifier(rules, operation, 'userId', userId, false);
  identifier(rules, operation, 'tenantId', tenant, false);
}

/** Checks extend's `durationMs`: a positive integer. */
export function checkDuration(rules: RecordRules, durationMs: unknown): number {
  if (typeof durationMs !== 'number' || !Number.isInteger(durationMs) || durationMs <= 0 || durationMs > MAX_DATE_MS) {
    throw invalid(rules, 'extend', 'durationMs', `must be a positive integer of milliseconds, got ${show(durationMs)}`);
  }
  return durationMs;
}

/** The `expiresAt` extend writes: `now + durationMs`, capped at `createdAt + maxLifetimeMs`. */
export function extendedExpiry(rules: RecordRules, createdAtMs: number, nowMs: number, durationMs: number): number {
  const wanted = nowMs + durationMs;
  if (rules.maxLifetimeMs === undefined) return wanted;
  return Math.min(wanted, createdAtMs + rules.maxLifetimeMs);
}

/** Orders sessions as listByUser returns them: by createdAt, then id. */
export function compareSessions(a: SessionRecord, b: SessionRecord): number {
  const t = a.createdAt.getTime() - b.createdAt.getTime();
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The existence and expiry checks of update, extend and touch, in the contract's order:
 * `NOT_FOUND` when `expiresAtMs` is `undefined` (no session has that id), then `EXPIRED`
 * when `expiresAtMs <= nowMs` (an expired session is never revived).
 */
export function checkLive(store: string, operation: string, expiresAtMs: number | undefined, nowMs: number): void {
  if (expiresAtMs === undefined) throw notFound(store, operation);
  if (expiresAtMs <= nowMs) throw expired(store, operation);
}

/** What {@link checkUpdateTarget} needs to know of the stored session. */
export interface StoredSessionFacts {
  readonly userId: string;
  readonly tenantId: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
}

/**
 * update's checks after the record's own shape ({@link checkRecord}), in the contract's
 * order: `NOT_FOUND` (no stored session), then `EXPIRED`, then the immutable fields
 * (`INVALID` naming `record.userId`, `record.tenantId` or `record.createdAt`).
 */
export function checkUpdateTarget(
  rules: RecordRules,
  stored: StoredSessionFacts | undefined,
  next: Pick<SessionRecord, 'userId' | 'tenantId' | 'createdAt'>,
  nowMs: number,
): void {
  checkLive(rules.store, 'update', stored?.expiresAtMs, nowMs);
  const s = stored as StoredSessionFacts;
  immutableFields(rules, s.userId, s.tenantId, s.createdAtMs, next);
}

/**
 * extend's argument checks in the contract's order: `INVALID` for a non-string id, then
 * `INVALID` for a `durationMs` that is not a positive integer. `named` is `false` when
 * the id is a string that can name no session (empty, too long, control characters):
 * the caller rejects `notFound(store, 'extend')` without asking the backend.
 */
export function checkExtendArgs(
  rules: RecordRules,
  id: unknown,
  durationMs: unknown,
): { named: boolean; durationMs: number } {
  const named = checkId(rules, 'extend', id);
  return { named, durationMs: checkDuration(rules, durationMs) };
}
