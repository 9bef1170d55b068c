/**
 * The closed set of reasons a store operation can fail.
 *
 * - `NOT_FOUND`: the session does not exist (update, extend, touch).
 * - `EXPIRED`: the session exists but `expiresAt <= now`; it is never revived.
 * - `CONFLICT`: create was given an id that already exists.
 * - `INVALID`: bad input (a record field, an argument or a store option); the message names it.
 * - `UNSUPPORTED`: the store lacks the capability the method needs (see {@link StoreCapabilities}).
 * - `STORAGE`: the backend failed, hung past `operationTimeoutMs`, or returned data
 *   that cannot be decoded; `cause` holds the original error.
 */
export type SessionErrorCode = 'NOT_FOUND' | 'EXPIRED' | 'CONFLICT' | 'INVALID' | 'UNSUPPORTED' | 'STORAGE';

const SESSION_ERROR_CODES: ReadonlySet<string> = new Set<SessionErrorCode>([
  'NOT_FOUND',
  'EXPIRED',
  'CONFLICT',
  'INVALID',
  'UNSUPPORTED',
  'STORAGE',
]);

/** Marker shared by every copy of `@sessionkit/core` loaded in one process. */
const MARKER = Symbol.for('sessionkit.error');

export interface SessionErrorOptions {
  /** Short store name, for example `redis`; the message is prefixed with `[sessionkit/<store>]`. */
  store?: string;
  /** The method or step that failed, for example `create` or `constructor`. */
  operation?: string;
  /** The record field, argument or option at fault, for example `record.userId`. */
  field?: string;
  /** The underlying error (always set for `STORAGE`). */
  cause?: unknown;
}

/**
 * The only error a sessionkit store rejects with.
 *
 * The message reads `[sessionkit/<store>] <operation>: <what happened>`, and the
 * structured `store`, `operation` and `field` properties carry the same facts for code.
 * Use {@link SessionError.isInstance} rather than `instanceof`: it holds even when two
 * copies of `@sessionkit/core` are installed side by side.
 */
export class SessionError extends Error {
  readonly code: SessionErrorCode;
  readonly store: string | undefined;
  readonly operation: string | undefined;
  readonly field: string | undefined;
  declare readonly cause?: unknown;

  constructor(code: SessionErrorCode, message: string, options: SessionErrorOptions = {}) {
    const where = options.store ? `[sessionkit/${options.store}]` : '[sessionkit]';
    const op = options.operation ? ` ${options.operation}:` : '';
    super(`${where}${op} ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    if (!SESSION_ERROR_CODES.has(code)) {
      throw new TypeError(`[sessionkit] unknown SessionError code ${String(code)}`);
    }
    this.name = 'SessionError';
    this.code = code;
    this.store = options.store;
    this.operation = options.operation;
    this.field = options.field;
    Object.defineProperty(this, MARKER, { value: true });
  }

  /** True for any `SessionError`, from this or any other copy of `@sessionkit/core`. */
  static isInstance(value: unknown): value is SessionError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARKER] === true &&
      typeof (value as { code?: unknown }).code === 'string'
    );
  }

  /** True when `value` is a `SessionError` with the given code. */
  static hasCode(value: unknown, code: SessionErrorCode): value is SessionError {
    return SessionError.isInstance(value) && value.code === code;
  }
}

/**
 * Wraps anything thrown by a backend into a `STORAGE` error (a `SessionError` passes
 * through unchanged). Stores call this in the `catch` of every operation so that
 * nothing but a `SessionError` escapes.
 */
export function toStorageError(error: unknown, store: string, operation: string): SessionError {
  if (SessionError.isInstance(error)) return error;
  let detail: string;
  try {
    detail = error instanceof Error ? error.message : String(error);
  } catch {
    detail = 'a value that cannot be converted to a string'; // e.g. Object.create(null)
  }
  return new SessionError('STORAGE', `backend failed: ${detail}`, { store, operation, cause: error });
}
