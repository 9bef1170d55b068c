import { SessionError, toStorageError } from './errors.js';

/**
 * Runs a backend call with a deadline: resolves with its value, or rejects `STORAGE`
 * (naming the store and operation) when it fails or takes longer than `ms`. Any other
 * error is wrapped with {@link toStorageError}; a `SessionError` passes through.
 *
 * The timer is cleared as soon as the call settles, so nothing lingers. A deadline
 * cannot un-send a command: stores must also keep their driver from queueing commands
 * while disconnected (see the contract's "Bounded waits").
 */
export function withTimeout<T>(work: Promise<T>, ms: number, store: string, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new SessionError('STORAGE', `backend did not answer within operationTimeoutMs (${ms} ms)`, {
          store,
          operation,
          cause: new Error(`timed out after ${ms} ms`),
        }),
      );
    }, ms);
  });
  return Promise.race([work, deadline]).then(
    (value) => {
      clearTimeout(timer);
      return value;
    },
    (error: unknown) => {
      clearTimeout(timer);
      throw toStorageError(error, store, operation);
    },
  );
}
