import { SessionError, toStorageError } from './errors.js';
import { MAX_TIMER_MS } from './limits.js';

/** @internal The STORAGE error of an operation that passed its deadline. */
function timedOut(ms: number, store: string, operation: string): SessionError {
  return new SessionError('STORAGE', `backend did not answer within operationTimeoutMs (${ms} ms)`, {
    store,
    operation,
    cause: new Error(`timed out after ${ms} ms`),
  });
}

/**
 * Runs a backend call with a deadline: resolves with its value, or rejects `STORAGE`
 * (naming the store and operation) when it fails or takes longer than `ms`. Any other
 * error is wrapped with {@link toStorageError}; a `SessionError` passes through.
 *
 * The timer is cleared as soon as the call settles, so nothing lingers. A deadline
 * cannot un-send a command: stores must also keep their driver from queueing commands
 * while disconnected (see the contract's "Bounded waits"). A store that runs many
 * operations should prefer {@link OperationDeadlines}: one timer for all of them.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, store: string, operation: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(timedOut(ms, store, operation));
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

/**
 * A timer handle: Node's and Bun's `Timeout` objects have `ref`/`unref`; Deno, Workers and
 * edge runtimes return a number (nothing there keeps a process alive).
 */
type Timer = ReturnType<typeof setTimeout>;

interface DenoTimers {
  unrefTimer?(id: number): void;
  refTimer?(id: number): void;
}
const deno = (globalThis as { Deno?: DenoTimers }).Deno;

/**
 * Lets the process exit while `timer` is pending: `timer.unref()` on Node and Bun,
 * `Deno.unrefTimer(id)` on Deno, a no-op where nothing keeps a process alive (Workers,
 * edge runtimes).
 */
export function unrefTimer(timer: Timer | undefined): void {
  const t = timer as { unref?: () => unknown } | number | undefined;
  if (typeof t === 'number') deno?.unrefTimer?.(t);
  else if (typeof t?.unref === 'function') t.unref();
}

/** Undoes {@link unrefTimer}: the pending timer keeps the process alive again. */
export function refTimer(timer: Timer | undefined): void {
  const t = timer as { ref?: () => unknown } | number | undefined;
  if (typeof t === 'number') deno?.refTimer?.(t);
  else if (typeof t?.ref === 'function') t.ref();
}

/**
 * One operation's deadline, from {@link OperationDeadlines.add}. Call `clear()` when the
 * operation settles: its `onExpire` then never runs.
 */
export interface Deadline {
  /** Marks the operation finished (idempotent). */
  clear(): void;
  /** True once cleared or expired. */
  readonly done: boolean;
}

class Entry implements Deadline {
  done = false;
  constructor(
    readonly at: number,
    readonly onExpire: () => void,
    readonly onDone: () => void,
  ) {}
  clear(): void {
    if (this.done) return;
    this.done = true;
    this.onDone();
  }
}

/**
 * Deadlines for every operation of one store, with one unref'd timer instead of a
 * `setTimeout` (and a `Promise.race`) per operation, which costs a few microseconds of
 * CPU on every command: {@link withTimeout}'s guarantee at a fraction of its cost.
 *
 * Every operation of an instance waits the same `ms`, so deadlines fall due in the order
 * the operations started: a FIFO queue whose head is the next to expire. Operations that
 * settle leave the queue from its head, so it holds about as many entries as there are
 * operations in flight. The timer fires about once per `ms` while operations run (not
 * once per operation) and stops when none is pending. It is ref'd while an operation is
 * pending, so an operation in flight always settles (resolves, or rejects `STORAGE` on
 * its deadline) before the process can exit, even when the driver's own sockets and
 * timers are unref'd or gone; once nothing is pending it is unref'd, so an idle store
 * never keeps a process alive.
 *
 * A deadline cannot un-send a command: stores must also keep their driver from
 * queueing commands while disconnected (see the contract's "Bounded waits").
 *
 * @example
 * // in the constructor
 * this.deadlines = new OperationDeadlines(operationTimeoutMs, 'redis');
 * // every backend call: STORAGE (cause: the timeout or the driver's error) within operationTimeoutMs
 * const reply = await this.deadlines.wrap('get', client.get(key));
 * // in close()
 * this.deadlines.stop();
 */
export class OperationDeadlines {
  /** The timeout of every operation, in ms. */
  readonly ms: number;
  readonly #store: string;
  #queue: Entry[] = [];
  #head = 0;
  #timer: Timer | undefined;
  /** Operations registered and not yet cleared or expired: the timer is ref'd while > 0. */
  #active = 0;
  readonly #release = (): void => {
    this.#active--;
    if (this.#active === 0 && this.#timer !== undefined) unrefTimer(this.#timer);
  };

  /**
   * @param ms the store's `operationTimeoutMs`, already checked (read it with
   *   {@link readCommonOptions} or {@link timerOption}: an integer from 1 to {@link MAX_TIMER_MS}).
   * @param store the store's short name for error messages, for example `redis`.
   */
  constructor(ms: number, store: string) {
    this.ms = ms;
    this.#store = store;
  }

  /**
   * `work`, bounded: resolves with its value, or rejects with
   * {@link OperationDeadlines.timeoutError} once `ms` have passed, or with `work`'s own
   * failure wrapped by {@link toStorageError} (a `SessionError` passes through).
   */
  wrap<T>(operation: string, work: PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = this.add(() => reject(this.timeoutError(operation)));
      work.then(
        (value) => {
          deadline.clear();
          resolve(value);
        },
        (error: unknown) => {
          deadline.clear();
          reject(toStorageError(error, this.#store, operation));
        },
      );
    });
  }

  /**
   * The low-level form, for operations that must do more than reject when time is up
   * (release a connection, abort a request): registers one operation and calls
   * `onExpire` once, `ms` after now, unless the returned deadline was cleared first.
   * Reject with {@link OperationDeadlines.timeoutError} from `onExpire`.
   */
  add(onExpire: () => void): Deadline {
    const entry = new Entry(performance.now() + this.ms, onExpire, this.#release);
    this.#dropSettled();
    this.#queue.push(entry);
    this.#active++;
    if (this.#timer === undefined) this.#arm(this.ms);
    else if (this.#active === 1) refTimer(this.#timer);
    return entry;
  }

  /** The `STORAGE` error of an operation that passed its deadline (as {@link withTimeout}'s). */
  timeoutError(operation: string): SessionError {
    return timedOut(this.ms, this.#store, operation);
  }

  /**
   * Stops the timer (call it from the store's `close()`). Operations still pending keep
   * their deadlines: the timer then runs until the last of them has settled or expired
   * (at most `ms`) and stops by itself (it holds the process open only that long, while
   * they are pending). An operation added later starts it again.
   */
  stop(): void {
    this.#dropSettled();
    if (this.#head < this.#queue.length) return; // in flight: still bounded
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Operations registered and not yet cleared or expired. */
  get pending(): number {
    return this.#active;
  }

  /** Drops settled entries from the head of the queue (the timer keeps running: re-arming costs more). */
  #dropSettled(): void {
    const q = this.#queue;
    while (this.#head < q.length && (q[this.#head] as Entry).done) this.#head++;
    if (this.#head === q.length) {
      q.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(this.#tick, Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(delay))));
    if (this.#active === 0) unrefTimer(this.#timer);
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const q = this.#queue;
    while (this.#head < q.length) {
      const entry = q[this.#head] as Entry;
      if (!entry.done) {
        if (entry.at > now) break;
        entry.clear();
        try {
          entry.onExpire();
        } catch (error) {
          queueMicrotask(() => {
            throw error; // surfaces as an uncaught error, as from a setTimeout callback
          });
        }
      }
      this.#head++;
    }
    this.#dropSettled();
    const next = this.#queue[this.#head];
    if (next !== undefined && this.#timer === undefined) this.#arm(next.at - now);
  };
}
