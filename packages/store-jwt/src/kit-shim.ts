// Interim copies of helpers of core's store-author kit (branch `kit`, issue #13),
// with the kit's signatures, so the split files already call them as they will. Deleted
// when the kit is merged: every import of this file then comes from `@sessionkit/core`.
import { SessionError, toStorageError } from '@sessionkit/core';

/** `INVALID` for a constructor option: `option <option> <problem>`, `field` set to the option. */
export function invalidOption(store: string, option: string, problem: string, cause?: unknown): SessionError {
  return new SessionError('INVALID', `option ${option} ${problem}`, {
    store,
    operation: 'constructor',
    field: option,
    cause,
  });
}

/** The message of anything thrown; never throws. */
export function describeError(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'a value that cannot be converted to a string';
  }
}

/** The largest valid Date, in ms since the epoch. */
export const MAX_DATE_MS = 8.64e15;

/** Runs `work`; anything it throws (synchronously or by rejecting) becomes toStorageError. */
export async function guard<T>(store: string, operation: string, work: () => T | PromiseLike<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toStorageError(error, store, operation);
  }
}

/** `STORAGE` with the store's own message (cause kept). */
export function storageError(store: string, operation: string, detail: string, cause?: unknown): SessionError {
  return new SessionError('STORAGE', detail, { store, operation, cause: cause ?? new Error(detail) });
}

/** `INVALID` for an argument or record field of a method: `<field> <problem>`. */
export function invalidInput(store: string, operation: string, field: string, problem: string): SessionError {
  return new SessionError('INVALID', `${field} ${problem}`, { store, operation, field });
}
