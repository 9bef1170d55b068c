// Every error this package raises: core's SessionError, named after this package.
import { SessionError, toStorageError } from '@sessionkit/core';

/** The name in messages: `[sessionkit/express-session] ...`. */
export const STORE = 'express-session';

/** INVALID for a bad constructor option, naming it. */
export function optionError(option: string, problem: string): SessionError {
  return new SessionError('INVALID', `option ${option} ${problem}`, {
    store: STORE,
    operation: 'constructor',
    field: option,
  });
}

/** INVALID for a bad argument or session, naming the field. */
export function invalid(operation: string, field: string, problem: string): SessionError {
  return new SessionError('INVALID', `${field} ${problem}`, { store: STORE, operation, field });
}

/** Any error as a SessionError: SessionErrors pass through, anything else is STORAGE. */
export function asSessionError(error: unknown, operation: string): SessionError {
  return toStorageError(error, STORE, operation);
}
