/**
 * Reads batched per turn of the event loop: on a single Redis, the first get of a turn
 * goes out at once as a plain GET (a lone get waits for nothing), and the gets that start
 * after it while the same turn runs (the requests of many connections that a busy server
 * reads at once) go out together as one MGET when the turn ends, instead of one GET each.
 * One command and one reply for the batch cost the client and the server less than one
 * per session. A read has no effect, so holding it back until the turn ends changes no
 * outcome: it is sent before any timer of the turn can fire.
 */
import type { Redis } from 'ioredis';

/** The most keys one MGET carries; more in one turn go out as several. */
export const MAX_BATCH = 128;

type Waiter = { resolve: (value: Buffer | null) => void; reject: (error: unknown) => void };

const later: (run: () => void) => void =
  typeof setImmediate === 'function' ? (run) => setImmediate(run) : (run) => setTimeout(run, 0);

export class GetBatch {
  readonly #client: Redis;
  readonly #notReady: () => Error;
  #keys: string[] = [];
  #waiters: Waiter[] = [];
  /** A get went out in this turn: the ones after it wait for the turn's end. */
  #turn = false;
  readonly #endTurn = (): void => {
    this.#turn = false;
    this.#flush();
  };

  /** `notReady` is the error for a client that is not connected when the batch goes out. */
  constructor(client: Redis, notReady: () => Error) {
    this.#client = client;
    this.#notReady = notReady;
  }

  /** The value at `key` as bytes, or null: at once for a turn's first get, else with the turn's batch. */
  get(key: string): Promise<Buffer | null> {
    if (!this.#turn) {
      this.#turn = true;
      later(this.#endTurn);
      if (this.#client.status !== 'ready') return Promise.reject(this.#notReady());
      return this.#client.getBuffer(key);
    }
    return new Promise<Buffer | null>((resolve, reject) => {
      this.#keys.push(key);
      this.#waiters.push({ resolve, reject });
      if (this.#keys.length >= MAX_BATCH) this.#flush();
    });
  }

  #flush(): void {
    const keys = this.#keys;
    const waiters = this.#waiters;
    if (keys.length === 0) return;
    this.#keys = [];
    this.#waiters = [];
    const fail = (error: unknown) => {
      for (const w of waiters) w.reject(error);
    };
    // the store never queues a command: a client that went away meanwhile sends nothing
    if (this.#client.status !== 'ready') {
      fail(this.#notReady());
      return;
    }
    if (keys.length === 1) {
      this.#client.getBuffer(keys[0] as string).then((value) => (waiters[0] as Waiter).resolve(value), fail);
      return;
    }
    this.#client.mgetBuffer(keys).then((values) => {
      for (let i = 0; i < waiters.length; i++) (waiters[i] as Waiter).resolve(values[i] ?? null);
    }, fail);
  }
}
