/**
 * @module @sessionkit/core
 */
export { type BackgroundErrorHandler, BackgroundErrors } from './background.js';
export { ALL_CAPABILITIES, type StoreCapabilities } from './capabilities.js';
export { cloneRecord, decodeRecord, encodeRecord } from './codec.js';
export {
  conflict,
  corrupt,
  describeError,
  expired,
  guard,
  invalidInput,
  invalidOption,
  notFound,
  SessionError,
  type SessionErrorCode,
  type SessionErrorOptions,
  storageError,
  toStorageError,
  unsupported,
} from './errors.js';
export { generateSessionId } from './ids.js';
export { MAX_JSON_DEPTH } from './json.js';
export { MAX_DATE_MS, MAX_TIMER_MS } from './limits.js';
export {
  type CommonOptionKinds,
  type CommonOptions,
  type KnownOptions,
  readCommonOptions,
  rejectUnknownOptions,
  timerOption,
} from './options.js';
export {
  compareForEviction,
  DEFAULT_MAX_SESSIONS_PER_USER,
  MAX_SESSIONS_PER_USER_LIMIT,
  maxSessionsPerUserOption,
} from './per-user.js';
export type { JsonValue, SessionRecord } from './record.js';
export type { BaseStoreOptions, SessionStore } from './store.js';
export { instrumentStore, loadTelemetryApi, TELEMETRY_ATTRIBUTES, TELEMETRY_METRICS } from './telemetry.js';
export type {
  StoreTelemetryOption,
  TelemetryAttributes,
  TelemetryCounter,
  TelemetryMeter,
  TelemetryMeterProvider,
  TelemetrySpan,
  TelemetryTracer,
  TelemetryTracerProvider,
} from './telemetry-types.js';
export { hasControlCharacters, MAX_IDENTIFIER_LENGTH, type TenantId, tenantId } from './tenant.js';
export { type Deadline, OperationDeadlines, unrefTimer, withTimeout } from './timeout.js';
export {
  assertOptionsObject,
  type CheckRecordOptions,
  checkDuration,
  checkExtendArgs,
  checkId,
  checkImmutableFields,
  checkLive,
  checkRecord,
  checkUpdateTarget,
  checkUserArgs,
  compareSessions,
  DEFAULT_EXPIRED_RETENTION_MS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  durationOption,
  type EncodedRecord,
  extendedExpiry,
  type RecordRules,
  readClock,
  resolveRecordRules,
  type StoredSessionFacts,
  type ValidRecord,
} from './validate.js';
