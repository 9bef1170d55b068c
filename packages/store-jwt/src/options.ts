// The store's options: their types and every known name (their defaults and bounds, and
// the store's name, are in constants.ts, which imports nothing, and are re-exported here).
import type { BaseStoreOptions, KnownOptions } from '@sessionkit/core';
import type { JWK } from 'jose';
import type { RevocationStore } from './revocation.js';
import type { HmacAlgorithm, JwtKeySpec } from './signing-keys.js';

export {
  DEFAULT_ALGORITHM,
  DEFAULT_MAX_TOKEN_BYTES,
  DEFAULT_VERIFY_CACHE_SIZE,
  MAX_KID_LENGTH,
  MAX_VERIFY_CACHE_SIZE,
  MIN_MAX_TOKEN_BYTES,
  STORE,
} from './constants.js';

/** A JSON Web Key Set, as published at a `jwks_uri`: `{ keys: [...] }`. */
export interface JsonWebKeySet {
  keys: JWK[];
}

/** Encryption of tokens (JWE, `dir` + `A256GCM`): the client cannot read what they carry. */
export interface JwtEncryptionOptions {
  /**
   * The content-encryption key. A `Uint8Array` of exactly 32 bytes is used as the
   * A256GCM key itself (so `jose.compactDecrypt(token, key)` opens it elsewhere); any
   * other secret (a string, or more than 32 bytes) of at least 32 bytes is stretched to
   * one with HKDF-SHA256 (info `sessionkit/store-jwt A256GCM`).
   */
  secret: string | Uint8Array;
  /** Written to the JWE header as `kid`; a token with another `kid` is rejected. @default none */
  kid?: string;
}

/** Options of {@link JwtSessionStore}. Give exactly one of `secret` and `keys`. */
export interface JwtSessionStoreOptions extends BaseStoreOptions {
  /** A shared HMAC secret of at least 32 bytes (string: its UTF-8 bytes). Signs with `algorithm`. */
  secret?: string | Uint8Array;
  /**
   * Signing keys for rotation and key pairs. The first key signs new tokens (its `kid`
   * goes into the header); every key verifies. Previous key pairs need only `publicKey`.
   */
  keys?: JwtKeySpec[];
  /** The HMAC algorithm used with `secret` (and with `keys` entries that are secrets without `alg`). @default 'HS256' */
  algorithm?: HmacAlgorithm;
  /** Written as `iss`; when set, a token must carry exactly this `iss`. @default none (not checked) */
  issuer?: string;
  /** Written as `aud`; when set, a token's `aud` must contain one of these. @default none (not checked) */
  audience?: string | string[];
  /** Encrypt tokens (nested JWT: signed, then encrypted as JWE `dir` + `A256GCM`). @default none (signed only) */
  encrypt?: JwtEncryptionOptions;
  /**
   * Where `delete` and `deleteByUser` record revocations. Without it the store is fully
   * stateless and both reject `UNSUPPORTED`. @default none
   */
  revocations?: RevocationStore;
  /**
   * Clock skew between servers, in ms: a token stays valid this long past `expiresAt`,
   * and `deleteByUser` denies the user's tokens signed up to this long after it (so a
   * signer whose clock runs ahead cannot outrun "log out everywhere"; a token issued
   * within the tolerance after it is denied too). @default 0
   */
  clockToleranceMs?: number;
  /** The longest token `create` issues, in bytes (characters: tokens are ASCII). @default 4096 */
  maxTokenBytes?: number;
  /**
   * How many verified tokens `get` (and `delete`) remember, least recently used out
   * first, so a token read again skips the signature check (and decryption). What is kept
   * is the verification, never the decision: expiry and revocation are checked on every
   * call, and each call returns its own copy of the record. Only tokens that verified and
   * are no longer than `maxTokenBytes` are kept (a forged token never enters), so an entry
   * takes at most about 2 x maxTokenBytes. 0 turns it off. @default 1000
   */
  verifyCacheSize?: number;
  /**
   * Also verify tokens whose `kid` names a key in this JSON Web Key Set (ES256 and EdDSA
   * keys only; loaded once with jose's `createLocalJWKSet`). @default none
   */
  jwks?: JsonWebKeySet;
  /** Deadline for each call to `revocations`, after which the operation rejects `STORAGE`. @default 5000 */
  operationTimeoutMs?: number;
}

/** Every option name the constructor takes; anything else is rejected (a misspelling). */
export const KNOWN_OPTIONS: KnownOptions<JwtSessionStoreOptions> = {
  clock: true,
  maxLifetimeMs: true,
  maxRecordBytes: true,
  secret: true,
  keys: true,
  algorithm: true,
  issuer: true,
  audience: true,
  encrypt: true,
  revocations: true,
  clockToleranceMs: true,
  maxTokenBytes: true,
  verifyCacheSize: true,
  jwks: true,
  operationTimeoutMs: true,
  telemetry: true,
};

/** The option names of `encrypt`. */
export const KNOWN_ENCRYPT_OPTIONS: KnownOptions<JwtEncryptionOptions> = { secret: true, kid: true };
