/**
 * The key layout: every key name the store writes, and the hash-slot tag of an id.
 */
import * as crypto from 'node:crypto';

/** Characters of the slot tag carried at the start of every generated id. */
export const TAG_LENGTH = 4;
/** Generated ids: the (tenant, user) slot tag, then 43 characters (256 bits) from the CSPRNG. */
export const GENERATED_ID_LENGTH = TAG_LENGTH + 43;
const GENERATED_ID = /^[A-Za-z0-9_-]{47}$/;

// One-shot crypto.hash where the runtime has it (about 3x cheaper than a Hash object for a
// short string; it runs on every get of an id without a tag); createHash elsewhere.
const hasOneShot = typeof crypto.hash === 'function';

function hashTag(text: string): string {
  const digest = hasOneShot
    ? crypto.hash('sha256', text, 'base64url')
    : crypto.createHash('sha256').update(text).digest('base64url');
  return digest.slice(0, TAG_LENGTH);
}

/**
 * A (tenant, user) pair spelled out length-prefixed, so distinct pairs never share it
 * (whatever characters they hold): what the index key ends with and the tags are made of.
 */
export function userPair(tenantId: string, userId: string): string {
  return `${tenantId.length}:${tenantId}${userId}`;
}

/**
 * The hash-slot tag of an id: the tag a generated id carries, or a hash of any other id.
 * A function of the id alone, so every operation finds its key from the id.
 */
export function idTag(id: string): string {
  return id.length === GENERATED_ID_LENGTH && GENERATED_ID.test(id) ? id.slice(0, TAG_LENGTH) : hashTag(`i${id}`);
}

/** The key layout of one store (see the README's "Key layout"). */
export class KeyLayout {
  constructor(readonly prefix: string) {}

  /** The store's tag secret (random bytes, base64url), shared by every store on this prefix. */
  secret(): string {
    return `${this.prefix}k`;
  }

  /** Record of an id (every record on a single Redis; records of generated ids on Cluster). */
  record(id: string): string {
    return `${this.prefix}s:{${idTag(id)}}${id}`;
  }

  /**
   * Record key of a generated id, or `undefined` for any other string. One pattern test
   * both proves the id valid (47 base64url characters hold no control character or lone
   * surrogate) and finds its tag: get's fast path.
   */
  generatedRecord(id: string): string | undefined {
    return id.length === GENERATED_ID_LENGTH && GENERATED_ID.test(id)
      ? `${this.prefix}s:{${id.slice(0, TAG_LENGTH)}}${id}`
      : undefined;
  }

  /** Cluster only: the pointer from a caller-chosen id to its record in the user's slot. */
  pointer(id: string): string {
    return `${this.prefix}p:{${idTag(id)}}${id}`;
  }

  /** Cluster only: the record of a caller-chosen id, in its user's slot. */
  customRecord(tag: string, id: string): string {
    return `${this.prefix}c:{${tag}}${id}`;
  }

  /** The per-(tenant, user) index: a sorted set of record keys scored by expiresAt. */
  index(tag: string, tenantId: string, userId: string): string {
    return `${this.prefix}u:{${tag}}${userPair(tenantId, userId)}`;
  }

  /** SCAN MATCH pattern for every index key of this store. */
  indexPattern(): string {
    return `${this.prefix.replace(/[*?[\]\\^-]/g, (c) => `\\${c}`)}u:*`;
  }
}
