/**
 * @module @sessionkit/manager
 */
export type { Device, Issued, IssueInput, ManagerState, Owner, Session, StepUpInput } from './layout.js';
export {
  DEFAULT_ABSOLUTE_TIMEOUT_MS,
  DEFAULT_HASH_CACHE_SIZE,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_ROTATION_GRACE_MS,
  DEFAULT_TOUCH_AFTER_MS,
  type SessionManagerOptions,
} from './options.js';
export { SessionManager } from './session-manager.js';
export { constantTimeEqual } from './token.js';
