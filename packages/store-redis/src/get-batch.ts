/**
 * Reads batched per turn of the event loop: on a single Redis, every get waits for the end
 * of the turn it started in (`setImmediate`), and the gets of one turn (the requests of
 * many connections that a busy server reads at once) go out together: one GET for a lone
 * get, one MGET for several, instead of one GET each. One command and one reply for the
 * batch cost the client and the server less than one per session; under load, a get sent
 * at once would gain nothing (its reply is read in the next turn either way) and would
 * cost a command, a reply and a wakeup of Redis of its own. A read has no effect, so
 * holding it back until the turn ends changes no answer a caller can rely on: a write
 * awaited before the get is always seen (one that the same code starts later in the turn
 * without awaiting it may be seen too). A get whose operationTimeoutMs ran out while it
 * waited (a turn that blocked the event loop that long) has rejected already and is not
 * sent.
 */
import * as timers from 'node:timers';
import type { Redis } from 'ioredis';
import type { Reply, ScriptRunner } from './runner.js';

/** The most keys one MGET carries; more in one turn go out as several. */
export const MAX_BATCH = 128;

interface Waiter {
  resolve: (value: Buffer | null) => void;
  reject: (error: unknown) => void;
  /** performance.now() after which the get has rejected (operationTimeoutMs): it is not sent. */
  deadline: number;
}

/**
 * The end of the turn: `setImmediate` from `node:timers`, not the global one. Test suites
 * that fake timers (vitest, jest, sinon) replace the global, before this module loads or
 * after; a batch must still go out, or every get would wait forever.
 */
const later = (run: () => void): void => {
  timers.setImmediate(run);
};

export class GetBatch {
  readonly #client: Redis;
  readonly #runner: ScriptRunner;
  #keys: string[] = [];
  #waiters: Waiter[] = [];
  /** The end of this turn is scheduled: the gets of the turn wait for it. */
  #turn = false;
  readonly #endTurn = (): void => {
    this.#turn = false;
    this.#flush();
  };

  constructor(client: Redis, runner: ScriptRunner) {
    this.#client = client;
    this.#runner = runner;
  }

  /** The value at `key` as bytes, or null: sent with the other gets of this turn when it ends. */
  get(key: string): Promise<Buffer | null> {
    if (!this.#turn) {
      this.#turn = true;
      later(this.#endTurn);
    }
    return new Promise<Buffer | null>((resolve, reject) => {
      this.#keys.push(key);
      this.#waiters.push({ resolve, reject, deadline: performance.now() + this.#runner.timeoutMs });
      if (this.#keys.length >= MAX_BATCH) this.#flush();
    });
  }

  /** Sends the gets waiting for the end of this turn now (the store's close() does, so none is left behind). */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    let keys = this.#keys;
    let waiters = this.#waiters;
    if (keys.length === 0) return;
    this.#keys = [];
    this.#waiters = [];
    // A get whose operationTimeoutMs ran out while it waited (a turn that blocked the event
    // loop that long) has rejected already: it is never sent later.
    const now = performance.now();
    if ((waiters[0] as Waiter).deadline <= now) {
      const live = waiters.filter((w) => w.deadline > now);
      keys = keys.filter((_, i) => (waiters[i] as Waiter).deadline > now);
      for (const w of waiters) if (w.deadline <= now) w.reject(this.#runner.timeoutError('get'));
      waiters = live;
      if (keys.length === 0) return;
    }
    const fail = (error: unknown) => {
      for (const w of waiters) w.reject(error);
    };
    // the store never queues a command: a client that went away meanwhile sends nothing
    if (this.#client.status !== 'ready') {
      fail(this.#runner.notReady('get'));
      return;
    }
    if (keys.length === 1) {
      this.#client.getBuffer(keys[0] as string).then((value) => (waiters[0] as Waiter).resolve(value), fail);
      return;
    }
    this.#client.mgetBuffer(keys).then((values: Reply) => {
      if (!Array.isArray(values) || values.length !== waiters.length) {
        fail(this.#runner.unexpected('get', values));
        return;
      }
      for (let i = 0; i < waiters.length; i++) (waiters[i] as Waiter).resolve((values[i] as Buffer | null) ?? null);
    }, fail);
  }
}
