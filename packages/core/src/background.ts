import { SessionError, toStorageError } from './errors.js';

/** The store option `onError`: receives each failure of the store's background work. */
export type BackgroundErrorHandler = (error: SessionError) => void;

/**
 * Where a store's background work (a `cleanupIntervalMs` timer, for example) reports its
 * failures, since nobody awaits it. With the store option `onError`, every failure goes
 * there as a `SessionError` (an exception the handler throws is ignored). Without it,
 * `console.warn` logs the message, once per distinct message in a row: a run that
 * succeeds ({@link BackgroundErrors.succeeded}) or fails differently logs again, so a
 * failure that repeats every interval is logged once.
 */
export class BackgroundErrors {
  readonly #store: string;
  readonly #handler: BackgroundErrorHandler | undefined;
  #last: string | undefined;

  /** @throws SessionError `INVALID` naming `onError` when it is neither undefined nor a function. */
  constructor(store: string, onError: unknown) {
    if (onError !== undefined && typeof onError !== 'function') {
      throw new SessionError('INVALID', `option onError must be a function, got ${typeof onError}`, {
        store,
        operation: 'constructor',
        field: 'onError',
      });
    }
    this.#store = store;
    this.#handler = onError as BackgroundErrorHandler | undefined;
  }

  /** A background run succeeded: the next failure is logged even if it repeats the last one. */
  succeeded(): void {
    this.#last = undefined;
  }

  /** Reports a failed background run of `operation` (anything thrown becomes a `SessionError`). */
  report(error: unknown, operation: string): void {
    const e = toStorageError(error, this.#store, operation);
    if (this.#handler !== undefined) {
      try {
        this.#handler(e);
      } catch {
        // the hook's own failure must not become an unhandled rejection
      }
      return;
    }
    if (e.message === this.#last) return;
    this.#last = e.message;
    console.warn(`${e.message} (background ${operation}; set the store's onError option to handle it)`);
  }
}
