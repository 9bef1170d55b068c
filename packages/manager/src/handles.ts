// Token -> handle hashing for the manager, and its cache: the handle (SHA-256 of the
// token, see token.ts) is the store record's id, and a token seen again skips the hash.
import { handleOf } from './token.js';

/**
 * The handles of recent tokens, first in first out (`size` entries; 0 turns the cache
 * off). It holds tokens of recent requests in this process's memory, as the requests
 * themselves do. Only tokens that passed `isTokenShaped` are ever put in.
 */
export class HandleCache {
  readonly #size: number;
  /** token -> handle, in insertion order (the oldest is evicted first). */
  readonly #hashes = new Map<string, string>();

  constructor(size: number) {
    this.#size = size;
  }

  /** The cached handle of `token`, or undefined (validate's hot path: no hashing). */
  cached(token: string): string | undefined {
    return this.#hashes.get(token);
  }

  /** The handle of a token-shaped string, from the cache or hashed (and cached). */
  handle(token: string): string {
    if (this.#size === 0) return handleOf(token);
    let handle = this.#hashes.get(token);
    if (handle === undefined) {
      handle = handleOf(token);
      if (this.#hashes.size >= this.#size) this.#hashes.delete(this.#hashes.keys().next().value as string);
      this.#hashes.set(token, handle);
    }
    return handle;
  }

  /** Forgets a token (signed out: nothing of it stays in memory). */
  forget(token: string): void {
    this.#hashes.delete(token);
  }
}
