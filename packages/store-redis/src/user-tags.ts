/**
 * The (tenant, user) hash-slot tags and the tag secret that keys them: `userTag`, a small
 * cache of recent tags (`UserTags`), and `TagSecret`, which knows the secret (the
 * tagSecret option, or the one kept in Redis under the prefix) and keeps its key alive.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { storageError } from '@sessionkit/core';
import { type KeyLayout, TAG_LENGTH, userPair } from './keys.js';
import { MIN_TAG_SECRET_LENGTH, STORE } from './options.js';
import type { ScriptRunner } from './runner.js';
import { SECRET } from './scripts/index.js';

// Hashing costs about a microsecond; a small cache of recent users saves it on hot paths.
const TAG_CACHE_SIZE = 4096;
/** How often a store reads the secret's key again (and writes it back when it was lost). */
const SECRET_RECHECK_MS = 60_000;
/** When a write needs the tag secret's key to live past its known expiry, push it this much further. */
const SECRET_STEP_MS = 86_400_000;
/** Random bytes of a secret a store makes. */
const SECRET_BYTES = 32;

/** The hash-slot tag of one (tenant, user) under `secret` (see {@link UserTags}). */
export function userTag(secret: Buffer, tenantId: string, userId: string): string {
  return tagOf(secret, userPair(tenantId, userId));
}

function tagOf(secret: Buffer, pair: string): string {
  return createHmac('sha256', secret).update(`u${pair}`).digest('base64url').slice(0, TAG_LENGTH);
}

/**
 * The hash-slot tags of (tenant, user) pairs under one tag secret: an HMAC-SHA-256, keyed
 * with the secret, of a length-prefixed encoding, so no character of either (`{`, `}`,
 * `:`, ...) can choose the slot or make two pairs meet, and a tag (which every generated
 * id starts with) tells nothing about its owner to someone without the secret.
 */
export class UserTags {
  readonly #recent = new Map<string, string>();
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  of(tenantId: string, userId: string): string {
    const pair = userPair(tenantId, userId);
    let tag = this.#recent.get(pair);
    if (tag === undefined) {
      tag = tagOf(this.#secret, pair);
      if (this.#recent.size >= TAG_CACHE_SIZE) this.#recent.clear();
      this.#recent.set(pair, tag);
    }
    return tag;
  }
}

/** The tag secret of one store: fixed by the tagSecret option, or kept in Redis. */
export class TagSecret {
  readonly #runner: ScriptRunner;
  readonly #keys: KeyLayout;
  /** The secret came from the tagSecret option: the key in Redis is neither read nor written. */
  readonly #fixed: boolean;
  #secret: string | undefined;
  /** Tags of (tenant, user) under the tag secret, once it is known. */
  #tags: UserTags | undefined;
  /** The tag secret's key lives at least until then (ms, Redis clock). */
  #until = 0;
  #loading: Promise<void> | undefined;
  /** When the tag secret was last read (Date.now()): it is read again once a minute. */
  #checkedAt = 0;
  /** Redis holds another tag secret than this store's: operations needing a tag reject. */
  #mismatch = false;

  constructor(runner: ScriptRunner, keys: KeyLayout, fixed: string | undefined) {
    this.#runner = runner;
    this.#keys = keys;
    this.#fixed = fixed !== undefined;
    if (fixed !== undefined) {
      this.#secret = fixed;
      this.#tags = new UserTags(Buffer.from(fixed));
      this.#until = Number.POSITIVE_INFINITY;
    }
  }

  /** The tags once the secret is known (whatever the state of its key), else `undefined`. */
  get known(): UserTags | undefined {
    return this.#tags;
  }

  /**
   * The (tenant, user) tags, once the tag secret is known and its key lives at least
   * until `until` (ms): synchronously on the hot path, otherwise after one SECRET script
   * (the first call, and when a write goes past the key's known expiry, about once a day).
   */
  tags(operation: string, until: number): UserTags | Promise<UserTags> {
    if (this.#tags !== undefined && (this.#fixed || (until <= this.#until && !this.#mismatch))) {
      // Once a minute, in the background: the key is written back with this store's secret
      // if it was lost (a restart without persistence), so stores on the prefix keep agreeing.
      if (!this.#fixed && Date.now() - this.#checkedAt > SECRET_RECHECK_MS && this.#loading === undefined) {
        this.#load(operation, 0).catch(() => {});
      }
      return this.#tags;
    }
    return this.#load(operation, until).then(() => this.tags(operation, until));
  }

  /**
   * {@link tags} for an operation started at `start`: when the secret must be read first,
   * that wait is bounded by what is left of operationTimeoutMs, and `slow` is true.
   */
  async tagsFor(operation: string, start: number, until: number): Promise<{ tags: UserTags; slow: boolean }> {
    const tags = this.tags(operation, until);
    if (!(tags instanceof Promise)) return { tags, slow: false };
    return { tags: await this.#runner.bounded(operation, start, true, tags), slow: true };
  }

  /**
   * Reads the tag secret's key (making it, or writing this store's secret back when it is
   * missing) and pushes its expiry. A store that already knows a secret never switches to
   * another: when the key holds a different one, every operation that needs a user's tag
   * rejects STORAGE (and reads the key again) until the key holds this store's secret.
   */
  #load(operation: string, until: number): Promise<void> {
    if (this.#loading) return this.#loading;
    const candidate = this.#secret ?? randomBytes(SECRET_BYTES).toString('base64url');
    this.#checkedAt = Date.now();
    // Push the expiry a day past `until` when it is needed; otherwise keep (or, for a key
    // that was lost, restore) the expiry already known.
    const want = until > this.#until ? until + SECRET_STEP_MS : this.#until;
    const runner = this.#runner;
    this.#loading = runner
      .script(operation, SECRET, [this.#keys.secret()], [candidate, want])
      .then((reply) => {
        if (!Array.isArray(reply) || typeof reply[0] !== 'string' || reply[0].length < MIN_TAG_SECRET_LENGTH) {
          throw runner.unexpected(operation, reply);
        }
        const secret = reply[0];
        const at = Number(reply[1]);
        if (this.#tags !== undefined && this.#secret !== secret) {
          this.#mismatch = true;
          throw storageError(
            STORE,
            operation,
            `the tag secret in Redis (key ${this.#keys.secret()}) is not the one this store uses: ` +
              'the key was lost and another store made a new secret. This store refuses to switch, so ' +
              'that indexes written under its secret are not silently lost; put its secret back ' +
              '(or give every store the same tagSecret option)',
          );
        }
        this.#mismatch = false;
        if (this.#tags === undefined) {
          this.#tags = new UserTags(Buffer.from(secret));
          this.#secret = secret;
        }
        this.#until = at > 0 ? at : want;
      })
      .finally(() => {
        this.#loading = undefined;
      });
    return this.#loading;
  }
}
