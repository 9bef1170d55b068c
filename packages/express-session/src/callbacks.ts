// Node-style callbacks over the store's promises (express-session and @fastify/session
// call a store with callbacks), and which backend errors mean "the session is gone".
import { SessionError } from '@sessionkit/core';
import { asSessionError } from './errors.js';

export type Callback<T = void> = (err?: unknown, value?: T) => void;

/** Whether `error` says the session was deleted (revoked) or expired meanwhile. */
export function isGone(error: unknown): boolean {
  return SessionError.hasCode(error, 'NOT_FOUND') || SessionError.hasCode(error, 'EXPIRED');
}

/** Runs `work` and reports to a Node-style callback (outside the promise, so a throwing callback is not swallowed). */
export function settle<T>(operation: string, callback: Callback<T> | undefined, work: () => Promise<T>): void {
  let promise: Promise<T>;
  try {
    promise = work();
  } catch (error) {
    promise = Promise.reject(error);
  }
  promise.then(
    (value) => {
      if (callback) process.nextTick(callback, null, value);
    },
    (error) => {
      if (callback) process.nextTick(callback, asSessionError(error, operation));
    },
  );
}
