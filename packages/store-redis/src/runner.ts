/**
 * The connection and script runner: sends scripts by SHA (EVAL when Redis answers
 * NOSCRIPT) and only while the client is ready, bounds every call by operationTimeoutMs,
 * gives each write the Redis-time deadline after which its script must not run (from a
 * measured offset between our clock and Redis's), and names an unusable reply by its
 * shape, never its text.
 */
import {
  expired,
  notFound,
  type OperationDeadlines,
  type SessionError,
  storageError,
  withTimeout,
} from '@sessionkit/core';
import type { Redis } from 'ioredis';
import { type Client, type RedisSettings, STORE } from './options.js';
import type { Script } from './scripts/index.js';

/** A reply from Redis, as ioredis hands it over. */
export type Reply = unknown;

/** Re-measure the offset between this process's clock and Redis's clock this often. */
const CLOCK_RESYNC_MS = 60_000;
/** A measurement of the Redis clock stays usable this long (clocks drift apart slowly). */
const CLOCK_BOUND_MAX_AGE_MS = 10 * 60_000;
/** A TIME round trip slower than this is measured again a second later. */
const CLOCK_SLOW_SYNC_MS = 20;

/**
 * The shape of a reply for an error message: its type, length, and the short status
 * codes the scripts answer with. Never its text: a reply may hold a stored record
 * (userId, metadata), and messages end up in logs.
 */
export function replyShape(reply: Reply, depth = 0): string {
  if (reply === null || reply === undefined) return 'nil';
  if (typeof reply === 'number') return 'integer';
  if (typeof reply === 'string' || Buffer.isBuffer(reply)) {
    const text = String(reply);
    return /^[A-Z]{1,2}$/.test(text) ? `'${text}'` : `string (${text.length} characters)`;
  }
  if (Array.isArray(reply)) {
    if (depth > 0) return `array (${reply.length})`;
    const head = reply
      .slice(0, 3)
      .map((item) => replyShape(item, depth + 1))
      .join(', ');
    return `array (${reply.length}: ${head}${reply.length > 3 ? ', ...' : ''})`;
  }
  return typeof reply;
}

/** Runs the store's commands and scripts on its client. */
export class ScriptRunner {
  readonly client: Client;
  readonly cluster: boolean;
  readonly timeoutMs: number;
  readonly #deadlines: OperationDeadlines;
  /** A lower bound of (Redis clock - this process's clock), in ms, measured with TIME. */
  #offset: number | undefined;
  #offsetAt = 0;
  #syncedAt = 0;
  #syncing: Promise<void> | undefined;

  constructor(settings: RedisSettings) {
    this.client = settings.client;
    this.cluster = settings.cluster;
    this.timeoutMs = settings.operationTimeoutMs;
    this.#deadlines = settings.deadlines;
  }

  notReady(operation: string, client: Client | Redis = this.client): SessionError {
    return storageError(
      STORE,
      operation,
      `Redis client is not connected (status '${client.status}'); nothing was sent. ` +
        'The store never queues commands; create the client with enableOfflineQueue: false.',
    );
  }

  deadlineMissed(operation: string): SessionError {
    return storageError(
      STORE,
      operation,
      `Redis ran the write after operationTimeoutMs (${this.timeoutMs} ms); it was not applied`,
    );
  }

  /** A reply the store cannot use; the message names its shape only, never stored data. */
  unexpected(operation: string, reply: Reply): SessionError {
    return storageError(STORE, operation, `unexpected reply from Redis: ${replyShape(reply)}`);
  }

  /**
   * Settles the reply of a by-id write: returns on 'OK'; throws NOT_FOUND on 'N', EXPIRED
   * on 'X', STORAGE when the deadline passed ('D') or the reply is unusable.
   */
  expectOk(operation: string, reply: Reply): void {
    if (reply === 'OK') return;
    if (reply === 'N') throw notFound(STORE, operation);
    if (reply === 'X') throw expired(STORE, operation);
    if (reply === 'D') throw this.deadlineMissed(operation);
    throw this.unexpected(operation, reply);
  }

  /**
   * Runs one script by SHA, loading it when Redis answers NOSCRIPT (after a restart).
   * Sends nothing unless the client is connected, so no offline queue ever holds it.
   */
  script(operation: string, s: Script, keys: string[], args: (string | number)[]): Promise<Reply> {
    if (this.client.status !== 'ready') return Promise.reject(this.notReady(operation));
    return this.client.evalsha(s.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      if (this.client.status !== 'ready') throw this.notReady(operation);
      return this.client.eval(s.source, keys.length, ...keys, ...args);
    });
  }

  /**
   * The hot path of a one-key script with two arguments (touch on a single Redis): one
   * EVALSHA and no intermediate arrays. The caller has checked that the client is ready.
   */
  scriptOnKey(operation: string, s: Script, key: string, a: string | number, b: string | number): Promise<Reply> {
    const client = this.client;
    return client.evalsha(s.sha, 1, key, a, b).catch((error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      if (client.status !== 'ready') throw this.notReady(operation);
      return client.eval(s.source, 1, key, a, b);
    });
  }

  /** The STORAGE error of an operation whose operationTimeoutMs ran out. */
  timeoutError(operation: string): SessionError {
    return this.#deadlines.timeoutError(operation);
  }

  /** Bounds `work` by operationTimeoutMs (the store's shared timer); every failure becomes a SessionError. */
  timed<T>(operation: string, work: Promise<T>): Promise<T> {
    return this.#deadlines.wrap(operation, work);
  }

  /**
   * `work` bounded by operationTimeoutMs counted from `start`: the store's shared timer
   * on the hot path, a timer of the time left when the operation first waited for the
   * tag secret (`slow`).
   */
  bounded<T>(operation: string, start: number, slow: boolean, work: Promise<T>): Promise<T> {
    if (!slow) return this.timed(operation, work);
    return withTimeout(work, Math.max(1, start + this.timeoutMs - Date.now()), STORE, operation);
  }

  /** {@link bounded} work that writes: `send` gets its deadline (see {@link withDeadline}). */
  write<T>(operation: string, start: number, slow: boolean, send: (deadline: number) => Promise<T>): Promise<T> {
    return this.bounded(operation, start, slow, this.withDeadline(operation, start, send));
  }

  /**
   * The deadline (Redis time, ms) of a write started at `start`, when the clock offset
   * is known and fresh (measured within the last minute); otherwise `undefined`.
   */
  freshDeadline(start: number): number | undefined {
    const offset = this.#offset;
    return offset !== undefined && start - this.#syncedAt <= CLOCK_RESYNC_MS
      ? start + offset + this.timeoutMs
      : undefined;
  }

  /**
   * Calls `send` with the deadline (Redis time, ms) after which the writes of an
   * operation started at `start` must not run: by then the operation has rejected.
   */
  withDeadline<T>(operation: string, start: number, send: (deadline: number) => Promise<T>): Promise<T> {
    const offset = this.#offset;
    if (offset === undefined) {
      return this.#syncClock(operation).then(() => send(start + (this.#offset as number) + this.timeoutMs));
    }
    if (start - this.#syncedAt > CLOCK_RESYNC_MS && this.client.status === 'ready') {
      this.#syncClock(operation).catch(() => {});
    }
    return send(start + offset + this.timeoutMs);
  }

  /** Measures the Redis clock against ours (TIME), once and then every minute. */
  #syncClock(operation: string): Promise<void> {
    if (!this.#syncing) {
      if (this.client.status !== 'ready') return Promise.reject(this.notReady(operation));
      const t0 = Date.now();
      this.#syncing = (this.client.time() as Promise<[string | number, string | number]>)
        .then(([s, us]) => {
          const t1 = Date.now();
          // Redis read its clock somewhere between t0 and t1: `server - t1` is the lowest
          // the offset can be. Deadlines built on it fall due early, never late (2 ms for
          // rounding). Each measurement is such a bound, so keep the highest recent one.
          const lowest = Number(s) * 1000 + Math.floor(Number(us) / 1000) - t1 - 2;
          const fresh = this.#offset === undefined || t1 - this.#offsetAt > CLOCK_BOUND_MAX_AGE_MS;
          if (fresh || lowest > (this.#offset as number)) {
            this.#offset = lowest;
            this.#offsetAt = t1;
          }
          // A slow answer gives a loose bound: measure again soon.
          this.#syncedAt = t1 - t0 > CLOCK_SLOW_SYNC_MS ? t1 - CLOCK_RESYNC_MS + 1000 : t1;
        })
        .finally(() => {
          this.#syncing = undefined;
        });
    }
    return this.#syncing;
  }

  /**
   * A master ioredis has not connected yet (status `wait`: Cluster nodes connect lazily, on
   * their first command) is connected here, within operationTimeoutMs; one connecting
   * already is waited for. A node closed or reconnecting rejects at once.
   */
  async readyNode(operation: string, node: Redis): Promise<void> {
    if (node.status === 'ready') return;
    if (node.status === 'wait') {
      await this.timed(operation, node.connect());
    } else if (node.status === 'connecting' || node.status === 'connect') {
      await this.timed(
        operation,
        new Promise<void>((resolve, reject) => {
          const ready = () => {
            node.off('close', closed);
            resolve();
          };
          const closed = () => {
            node.off('ready', ready);
            reject(this.notReady(operation, node));
          };
          node.once('ready', ready);
          node.once('close', closed);
        }),
      );
    }
    if ((node.status as string) !== 'ready') throw this.notReady(operation, node);
  }

  /** Stops the timeout timer (once operations in flight settle or time out). */
  stop(): void {
    this.#deadlines.stop();
  }
}
