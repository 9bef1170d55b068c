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
 * A readable message for anything thrown: the `message` of an `Error`, `String(value)`
 * otherwise. Never throws itself (an `Object.create(null)` has no `toString`).
 */
export function describeError(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'a value that cannot be converted to a string';
  }
}

/**
 * Wraps anything thrown by a backend into a `STORAGE` error (a `SessionError` passes
 * through unchanged). Stores call this in the `catch` of every operation, or use
 * {@link guard}, so that nothing but a `SessionError` escapes.
 */
export function toStorageError(error: unknown, store: string, operation: string): SessionError {
  if (SessionError.isInstance(error)) return error;
  return new SessionError('STORAGE', `backend failed: ${describeError(error)}`, { store, operation, cause: error });
}

/**
 * The one "only a `SessionError` escapes" wrapper: runs `work` and turns anything it
 * throws (synchronously or by rejecting) into {@link toStorageError}. Wrap the body of
 * every public store method in it, or write the same `try { ... } catch (e) { throw
 * toStorageError(e, store, operation) }` inline on a hot path.
 *
 * @example
 * get(id: string): Promise<SessionRecord | null> {
 *   return guard(STORE, 'get', async () => { ... });
 * }
 */
export async function guard<T>(store: string, operation: string, work: () => T | PromiseLike<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toStorageError(error, store, operation);
  }
}

/** `NOT_FOUND`: `operation` (update, extend, touch) named a session that does not exist. */
export function notFound(store: string, operation: string): SessionError {
  return new SessionError('NOT_FOUND', 'no session with that id', { store, operation, field: 'id' });
}

/** `EXPIRED`: `operation` named a session whose `expiresAt` has passed (it is never revived). */
export function expired(store: string, operation: string): SessionError {
  return new SessionError('EXPIRED', 'the session has expired; sign the user in again', {
    store,
    operation,
    field: 'id',
  });
}

/** `CONFLICT`: create was given an id that already exists. */
export function conflict(store: string): SessionError {
  return new SessionError('CONFLICT', 'a session with that id already exists; it was not overwritten', {
    store,
    operation: 'create',
    field: 'record.id',
  });
}

/** `UNSUPPORTED`: the store lacks the capability `operation` needs; `hint` says what to do instead. */
export function unsupported(store: string, operation: string, hint: string): SessionError {
  return new SessionError('UNSUPPORTED', `${operation} is not supported: ${hint}`, { store, operation });
}

/**
 * `INVALID` for a constructor option: `[sessionkit/<store>] constructor: option <option>
 * <problem>`, with `field` set to the option's name.
 */
export function invalidOption(store: string, option: string, problem: string, cause?: unknown): SessionError {
  return new SessionError('INVALID', `option ${option} ${problem}`, {
    store,
    operation: 'constructor',
    field: option,
    cause,
  });
}

/**
 * `INVALID` for an argument or record field of a method: `<field> <problem>` (`cause`:
 * what reading it threw, for a getter or proxy that fails).
 */
export function invalidInput(
  store: string,
  operation: string,
  field: string,
  problem: string,
  cause?: unknown,
): SessionError {
  return new SessionError('INVALID', `${field} ${problem}`, { store, operation, field, cause });
}

/**
 * `STORAGE` for data read from the backend that the store cannot decode (written by
 * something else, or damaged): `stored data is corrupt: <detail>`.
 */
export function corrupt(store: string, operation: string, detail: string, cause?: unknown): SessionError {
  return new SessionError('STORAGE', `stored data is corrupt: ${detail}`, {
    store,
    operation,
    cause: cause ?? new Error(detail),
  });
}

/** `STORAGE` with the store's own message (a backend reply it did not expect, a node that is down). */
export function storageError(store: string, operation: string, detail: string, cause?: unknown): SessionError {
  return new SessionError('STORAGE', detail, { store, operation, cause: cause ?? new Error(detail) });
}
