import { SessionError, toStorageError } from '@sessionkit/core';

interface Pending {
  readonly at: number;
  readonly operation: string;
  readonly reject: (error: unknown) => void;
  done: boolean;
}

/**
 * Operation deadlines with one timer per store instead of one per operation (the same
 * guarantee as core's `withTimeout`: the operation rejects `STORAGE` once `ms` have
 * passed, and any failure is wrapped with `toStorageError`).
 *
 * Every operation of a store has the same timeout, so deadlines arrive in start order: a
 * FIFO queue whose head is the next deadline. Operations usually finish in order too (one
 * connection answers in order), so finished entries leave from the head at once.
 */
export class Deadlines {
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly store: string,
  ) {}

  /** `work`, rejecting STORAGE after `ms` if it has not settled by then. */
  wrap<T>(operation: string, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { at: performance.now() + this.ms, operation, reject, done: false };
      this.queue.push(entry);
      if (this.timer === undefined) this.arm(entry.at);
      work.then(
        (value) => {
          entry.done = true;
          this.trim();
          resolve(value);
        },
        (error: unknown) => {
          entry.done = true;
          this.trim();
          reject(toStorageError(error, this.store, operation));
        },
      );
    });
  }

  /** Stops the timer (pending operations then settle only when Redis answers). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private trim(): void {
    const q = this.queue;
    while (this.head < q.length && (q[this.head] as Pending).done) this.head++;
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  private arm(at: number): void {
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const q = this.queue;
    while (this.head < q.length) {
      const entry = q[this.head] as Pending;
      if (!entry.done) {
        if (entry.at > now) break;
        entry.done = true;
        entry.reject(
          new SessionError('STORAGE', `backend did not answer within operationTimeoutMs (${this.ms} ms)`, {
            store: this.store,
            operation: entry.operation,
            cause: new Error(`timed out after ${this.ms} ms`),
          }),
        );
      }
      this.head++;
    }
    this.trim();
    const next = this.queue[this.head];
    if (next) this.arm(next.at);
  };
}
