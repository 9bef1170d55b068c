// Signing keys: the key types of the `secret`, `keys` and `encrypt` options, and their
// synchronous checks in the constructor (secrets, kids, each `keys` entry; a key pair's
// inputs in key-input.ts and pem.ts). Importing them with Web Crypto is key-import.ts.
import { hasControlCharacters, invalidOption } from '@sessionkit/core';
import type { CryptoKey, JWK } from 'jose';
import { checkKeyInput, describe } from './key-input.js';
import { MAX_KID_LENGTH, STORE } from './options.js';

/** The signing algorithms store-jwt implements. */
export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'ES256' | 'EdDSA';
/** HMAC algorithms, usable with a shared secret. */
export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';
/** Asymmetric algorithms, usable with a key pair (ES256: EC P-256; EdDSA: Ed25519). */
export type AsymmetricAlgorithm = 'ES256' | 'EdDSA';

/** A Node `KeyObject` (only what the store uses of it: its type and its JWK export). */
export interface NodeKeyObject {
  readonly type: string;
  export(options: { format: 'jwk' }): object;
}

/**
 * A key as the caller has it: a Web Crypto `CryptoKey` (what jose's `generateKeyPair` and
 * `importPKCS8` return), a Node `KeyObject`, a JWK object, or a PEM string (PKCS#8 or SPKI).
 */
export type KeyInput = CryptoKey | NodeKeyObject | JWK | string;

/** A shared HMAC secret (at least 32 bytes). */
export interface SecretKeySpec {
  /** Key id written to the token header (`kid`) and used to pick the key when verifying. */
  kid?: string;
  /** @default the store's `algorithm` option, else 'HS256' */
  alg?: HmacAlgorithm;
  /** At least 32 bytes: a string (its UTF-8 bytes) or a Uint8Array. */
  secret: string | Uint8Array;
}

/** An asymmetric key: the private key signs (current key only), the public key verifies. */
export interface KeyPairSpec {
  /** @default the RFC 7638 JWK thumbprint of the public key */
  kid?: string;
  /** @default inferred from the key: EC P-256 -> 'ES256', Ed25519 -> 'EdDSA' */
  alg?: AsymmetricAlgorithm;
  /** Needed for the current (first) key; its public key is derived from it. */
  privateKey?: KeyInput;
  /** Enough for previous keys, which only verify. */
  publicKey?: KeyInput;
}

/** One entry of the `keys` option. */
export type JwtKeySpec = SecretKeySpec | KeyPairSpec;

/**
 * @internal where a key comes from, after the constructor's synchronous shape checks
 * (lengths, JWK fields, PEM framing and key type). Everything that needs Web Crypto
 * happens in {@link importKey}.
 */
export type KeySource =
  | { readonly form: 'jwk'; readonly jwk: JWK }
  | { readonly form: 'pkcs8' | 'spki'; readonly der: Uint8Array }
  | { readonly form: 'cryptokey'; readonly key: CryptoKey };

/** @internal one side of a key pair, with the option it came from (named in errors). */
export interface KeyPart {
  readonly field: string;
  readonly type: 'private' | 'public';
  readonly source: KeySource;
}

/** @internal a key option, checked synchronously in the constructor. */
export type CheckedKey =
  | {
      readonly alg: HmacAlgorithm;
      readonly kid: string | undefined;
      readonly field: string;
      readonly secret: Uint8Array;
    }
  | {
      readonly alg: AsymmetricAlgorithm;
      readonly kid: string | undefined;
      readonly field: string;
      readonly secret?: undefined;
      /** The private key (signs; its public part verifies when publicKey is not given). */
      readonly privateKey: KeyPart | undefined;
      readonly publicKey: KeyPart | undefined;
    };

/** @internal the checked `encrypt.secret`: its bytes, and whether HKDF stretches them to the A256GCM key. */
export interface EncryptionSecret {
  readonly bytes: Uint8Array;
  readonly stretch: boolean;
}

/** @internal a key imported for jose: CryptoKeys made once, reused by every operation. */
export interface ResolvedKey {
  readonly alg: JwtAlgorithm;
  readonly kid: string | undefined;
  /** Undefined for verify-only keys (previous key pairs given only a publicKey). */
  readonly signKey: CryptoKey | undefined;
  readonly verifyKey: CryptoKey;
}

/**
 * @internal a key that passed the constructor's checks but that Web Crypto refused (or
 * whose parts do not match); `field` is the option to name.
 */
export class KeyImportError extends Error {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const HMAC_ALGS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);
const ASYMMETRIC_ALGS: ReadonlySet<string> = new Set(['ES256', 'EdDSA']);
const utf8 = new TextEncoder();

export function isHmac(alg: string): alg is HmacAlgorithm {
  return HMAC_ALGS.has(alg);
}

export function isSupportedAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && (HMAC_ALGS.has(alg) || ASYMMETRIC_ALGS.has(alg));
}

/** The bytes of a secret option (a private copy), checked to be at least `min` bytes. */
export function secretBytes(field: string, value: unknown, min = 32): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = utf8.encode(value);
  else if (value instanceof Uint8Array) bytes = value.slice();
  else {
    throw invalidOption(
      STORE,
      field,
      `must be a string or a Uint8Array of at least ${min} bytes, got ${describe(value)}`,
    );
  }
  if (bytes.length < min) {
    throw invalidOption(
      STORE,
      field,
      `must be at least ${min} bytes (256 bits), got ${bytes.length}; use crypto.getRandomValues(new Uint8Array(32))`,
    );
  }
  return bytes;
}

function checkKid(field: string, kid: unknown): string | undefined {
  if (kid === undefined) return undefined;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH || hasControlCharacters(kid)) {
    throw invalidOption(
      STORE,
      field,
      `must be a non-empty string of at most ${MAX_KID_LENGTH} characters without control characters`,
    );
  }
  return kid;
}

/**
 * Checks one entry of `keys` (or the `secret` option). `secretField` names the secret in
 * errors: `keys[i].secret` for an entry, plain `secret` for the `secret` option.
 */
export function checkKey(
  field: string,
  spec: unknown,
  defaultHmac: HmacAlgorithm,
  current: boolean,
  secretField = `${field}.secret`,
): CheckedKey {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw invalidOption(
      STORE,
      field,
      `must be an object like { secret } or { privateKey, publicKey }, got ${describe(spec)}`,
    );
  }
  const s = spec as Record<string, unknown>;
  const kid = checkKid(`${field}.kid`, s.kid);
  if ('secret' in s && s.secret !== undefined) {
    if (s.privateKey !== undefined || s.publicKey !== undefined) {
      throw invalidOption(STORE, field, 'must have either secret or privateKey/publicKey, not both');
    }
    const alg = s.alg ?? defaultHmac;
    if (typeof alg !== 'string' || !isHmac(alg)) {
      throw invalidOption(
        STORE,
        `${field}.alg`,
        `must be 'HS256', 'HS384' or 'HS512' for a secret, got ${String(alg)}`,
      );
    }
    return { alg, kid, field: secretField, secret: secretBytes(secretField, s.secret) };
  }
  const priv =
    s.privateKey === undefined ? undefined : checkKeyInput(`${field}.privateKey`, field, s.privateKey, 'private');
  const pub = s.publicKey === undefined ? undefined : checkKeyInput(`${field}.publicKey`, field, s.publicKey, 'public');
  if (!priv && !pub) {
    throw invalidOption(STORE, field, 'needs a secret, or a privateKey (and/or publicKey)');
  }
  if (current && !priv) {
    throw invalidOption(STORE, `${field}.privateKey`, 'is required for the current (first) key: it signs new tokens');
  }
  if (priv && pub && priv.alg !== pub.alg) {
    throw invalidOption(
      STORE,
      `${field}.publicKey`,
      `does not match privateKey (a ${pub.alg} key beside a ${priv.alg} key)`,
    );
  }
  const inferred = (priv ?? pub)?.alg as AsymmetricAlgorithm;
  if (s.alg !== undefined && s.alg !== inferred) {
    throw invalidOption(STORE, `${field}.alg`, `is ${String(s.alg)} but the key is for ${inferred}`);
  }
  // Two JWKs (KeyObjects come as JWKs) can be compared now; other forms when imported.
  const a = priv?.part.source;
  const b = pub?.part.source;
  if (a?.form === 'jwk' && b?.form === 'jwk' && (a.jwk.x !== b.jwk.x || a.jwk.y !== b.jwk.y)) {
    throw invalidOption(STORE, `${field}.publicKey`, 'does not match privateKey');
  }
  return { alg: inferred, kid, field, privateKey: priv?.part, publicKey: pub?.part };
}

/** Checks the `encrypt.secret` option: the bytes the A256GCM key comes from (see {@link importEncryptionKey}). */
export function encryptionKeyBytes(field: string, value: unknown): EncryptionSecret {
  const bytes = secretBytes(field, value);
  // a Uint8Array of exactly 32 bytes is used as is (an interoperable 'dir' key)
  return { bytes, stretch: !(value instanceof Uint8Array && bytes.length === 32) };
}
