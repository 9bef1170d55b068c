/**
 * @module @sessionkit/core
 */
export { ALL_CAPABILITIES, type StoreCapabilities } from './capabilities.js';
export { cloneRecord, decodeRecord, encodeRecord } from './codec.js';
export { SessionError, type SessionErrorCode, type SessionErrorOptions, toStorageError } from './errors.js';
export { generateSessionId } from './ids.js';
export {
  checkJson,
  cloneJson,
  jsonStringBytes,
  MAX_JSON_DEPTH,
  measureJson,
} from './json.js';
export { closestName, type KnownOptions, rejectUnknownOptions } from './options.js';
export {
  compareForEviction,
  DEFAULT_MAX_SESSIONS_PER_USER,
  MAX_SESSIONS_PER_USER_LIMIT,
  maxSessionsPerUserOption,
} from './per-user.js';
export type { JsonValue, SessionRecord } from './record.js';
export type { BaseStoreOptions, SessionStore } from './store.js';
export { hasControlCharacters, MAX_IDENTIFIER_LENGTH, type TenantId, tenantId } from './tenant.js';
export { type Deadline, OperationDeadlines, refTimer, unrefTimer, withTimeout } from './timeout.js';
export {
  assertOptionsObject,
  type CheckRecordOptions,
  checkDuration,
  checkId,
  checkImmutableFields,
  checkRecord,
  checkUserArgs,
  compareSessions,
  conflict,
  DEFAULT_EXPIRED_RETENTION_MS,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_OPERATION_TIMEOUT_MS,
  durationOption,
  type EncodedRecord,
  expired,
  extendedExpiry,
  notFound,
  type RecordRules,
  readClock,
  resolveRecordRules,
  unsupported,
  type ValidRecord,
} from './validate.js';
