// This package's name in every error, and the one conversion of anything thrown into
// core's SessionError. INVALID errors come from core's kit (invalidOption, invalidInput).
import { type SessionError, toStorageError } from '@sessionkit/core';

/** The name in messages: `[sessionkit/express-session] ...`. */
export const STORE = 'express-session';

/** Any error as a SessionError: SessionErrors pass through, anything else is STORAGE. */
export function asSessionError(error: unknown, operation: string): SessionError {
  return toStorageError(error, STORE, operation);
}
