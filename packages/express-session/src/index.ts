/**
 * @module @sessionkit/express-session
 */
export {
  ANONYMOUS_PREFIX,
  DEFAULT_TENANT,
  DEFAULT_TOUCH_AFTER_MS,
  DEFAULT_TTL_MS,
  defaultUserOf,
  type SessionData,
  type SessionkitStoreOptions,
} from './options.js';
export { decodeSession, encodeSession } from './session-codec.js';
export { SessionkitStore, type SessionSummary } from './sessionkit-store.js';
