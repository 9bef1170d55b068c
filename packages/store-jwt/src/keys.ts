import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  type JsonWebKey,
  KeyObject,
  webcrypto,
} from 'node:crypto';
import { SessionError } from '@sessionkit/core';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';

/** The signing algorithms store-jwt implements. */
export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'ES256' | 'EdDSA';
/** HMAC algorithms, usable with a shared secret. */
export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';
/** Asymmetric algorithms, usable with a key pair (ES256: EC P-256; EdDSA: Ed25519). */
export type AsymmetricAlgorithm = 'ES256' | 'EdDSA';

/**
 * A key as the caller has it: a WebCrypto `CryptoKey` (what jose's `generateKeyPair` and
 * `importPKCS8` return), a Node `KeyObject`, a JWK object, or a PEM string.
 */
export type KeyInput = webcrypto.CryptoKey | KeyObject | JsonWebKey | string;

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
 * @internal a key option, checked synchronously in the constructor (node:crypto parses
 * PEM, JWK and CryptoKey inputs into KeyObjects). {@link importKey} then turns it into
 * the CryptoKeys jose signs and verifies with, once.
 */
export interface CheckedKey {
  readonly alg: JwtAlgorithm;
  /** The kid the caller gave; asymmetric keys without one get their JWK thumbprint on import. */
  readonly kid: string | undefined;
  /** KeyObject that signs (secret or private key); undefined for verify-only keys. */
  readonly signKey: KeyObject | undefined;
  /** KeyObject that verifies (secret or public key). */
  readonly verifyKey: KeyObject;
}

/** @internal a key imported for jose: CryptoKeys made once, reused by every operation. */
export interface ResolvedKey {
  readonly alg: JwtAlgorithm;
  readonly kid: string | undefined;
  /** Undefined for verify-only keys (previous key pairs given only a publicKey). */
  readonly signKey: webcrypto.CryptoKey | undefined;
  readonly verifyKey: webcrypto.CryptoKey;
}

const HMAC_ALGS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);
const ASYMMETRIC_ALGS: ReadonlySet<string> = new Set(['ES256', 'EdDSA']);

export function isHmac(alg: string): alg is HmacAlgorithm {
  return HMAC_ALGS.has(alg);
}

export function isSupportedAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && (HMAC_ALGS.has(alg) || ASYMMETRIC_ALGS.has(alg));
}

function optionError(field: string, problem: string, cause?: unknown): SessionError {
  return new SessionError('INVALID', `option ${field} ${problem}`, {
    store: 'jwt',
    operation: 'constructor',
    field,
    cause,
  });
}

/** The bytes of a secret option, checked to be at least `min` bytes. */
export function secretBytes(field: string, value: unknown, min = 32): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  else throw optionError(field, `must be a string or a Uint8Array of at least ${min} bytes, got ${describe(value)}`);
  if (bytes.length < min) {
    throw optionError(
      field,
      `must be at least ${min} bytes (256 bits), got ${bytes.length}; use crypto.randomBytes(32)`,
    );
  }
  return Buffer.from(bytes); // a private copy
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function isCryptoKey(value: unknown): value is webcrypto.CryptoKey {
  const CK = (globalThis as { CryptoKey?: new () => webcrypto.CryptoKey }).CryptoKey;
  return CK !== undefined && value instanceof CK;
}

function toKeyObject(field: string, value: unknown, kind: 'private' | 'public'): KeyObject {
  try {
    if (value instanceof KeyObject) return value;
    if (isCryptoKey(value)) return KeyObject.from(value);
    if (typeof value === 'string') return kind === 'private' ? createPrivateKey(value) : createPublicKey(value);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const jwk = value as Record<string, unknown>;
      if (kind === 'public' && 'd' in jwk) {
        // A private JWK given as publicKey: keep only its public part.
        return createPublicKey(createPrivateKey({ key: jwk as never, format: 'jwk' }));
      }
      return kind === 'private'
        ? createPrivateKey({ key: jwk as never, format: 'jwk' })
        : createPublicKey({ key: jwk as never, format: 'jwk' });
    }
  } catch (error) {
    throw optionError(field, `cannot be imported: ${(error as Error).message}`, error);
  }
  throw optionError(field, `must be a CryptoKey, KeyObject, JWK object or PEM string, got ${describe(value)}`);
}

/** The algorithm an asymmetric key is for (ES256 for EC P-256, EdDSA for Ed25519), or undefined. */
export function algorithmOfKey(key: KeyObject): AsymmetricAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function checkKid(field: string, kid: unknown): string | undefined {
  if (kid === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256 || /[\u0000-\u001f\u007f-\u009f]/.test(kid)) {
    throw optionError(field, 'must be a non-empty string of at most 256 characters without control characters');
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
    throw optionError(field, `must be an object like { secret } or { privateKey, publicKey }, got ${describe(spec)}`);
  }
  const s = spec as Record<string, unknown>;
  const kid = checkKid(`${field}.kid`, s.kid);
  if ('secret' in s && s.secret !== undefined) {
    if (s.privateKey !== undefined || s.publicKey !== undefined) {
      throw optionError(field, 'must have either secret or privateKey/publicKey, not both');
    }
    const alg = s.alg ?? defaultHmac;
    if (typeof alg !== 'string' || !isHmac(alg)) {
      throw optionError(`${field}.alg`, `must be 'HS256', 'HS384' or 'HS512' for a secret, got ${String(alg)}`);
    }
    const key = createSecretKey(secretBytes(secretField, s.secret));
    return { alg, kid, signKey: key, verifyKey: key };
  }
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject | undefined;
  if (s.privateKey !== undefined) {
    privateKey = toKeyObject(`${field}.privateKey`, s.privateKey, 'private');
    if (privateKey.type !== 'private')
      throw optionError(`${field}.privateKey`, `must be a private key, got a ${privateKey.type} key`);
  }
  if (s.publicKey !== undefined) {
    publicKey = toKeyObject(`${field}.publicKey`, s.publicKey, 'public');
    if (publicKey.type === 'private') publicKey = createPublicKey(publicKey);
    if (publicKey.type !== 'public')
      throw optionError(`${field}.publicKey`, `must be a public key, got a ${publicKey.type} key`);
  }
  if (!privateKey && !publicKey) {
    throw optionError(field, 'needs a secret, or a privateKey (and/or publicKey)');
  }
  if (current && !privateKey) {
    throw optionError(`${field}.privateKey`, 'is required for the current (first) key: it signs new tokens');
  }
  const derived = privateKey ? createPublicKey(privateKey) : undefined;
  if (publicKey && derived && !publicKey.equals(derived)) {
    throw optionError(`${field}.publicKey`, 'does not match privateKey');
  }
  const verifyKey = publicKey ?? (derived as KeyObject);
  const inferred = algorithmOfKey(verifyKey);
  if (!inferred) {
    throw optionError(
      field,
      `has an unsupported key type (${verifyKey.asymmetricKeyType}); use an EC P-256 key (ES256) or an Ed25519 key (EdDSA)`,
    );
  }
  if (s.alg !== undefined && s.alg !== inferred) {
    throw optionError(`${field}.alg`, `is ${String(s.alg)} but the key is for ${inferred}`);
  }
  return { alg: inferred, kid, signKey: privateKey, verifyKey };
}

/** Derives the A256GCM content-encryption key bytes from the `encrypt.secret` option. */
export function encryptionKeyBytes(field: string, value: unknown): Buffer {
  const bytes = secretBytes(field, value);
  if (value instanceof Uint8Array && bytes.length === 32) return bytes; // used as is (interoperable 'dir' key)
  return Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'sessionkit/store-jwt A256GCM', 32));
}

// ---- import for jose (once per store) ----

const HMAC_HASH: Record<HmacAlgorithm, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

function jwkOf(key: KeyObject, alg: JwtAlgorithm): JWK {
  return { ...(key.export({ format: 'jwk' }) as JWK), alg };
}

/**
 * Imports a checked key as the CryptoKeys jose uses (HMAC keys for HSxxx, ECDSA P-256 for
 * ES256, Ed25519 for EdDSA): jose would otherwise re-import a secret on every call.
 * Asymmetric keys without a kid get their RFC 7638 JWK thumbprint as kid.
 */
export async function importKey(key: CheckedKey): Promise<ResolvedKey> {
  if (isHmac(key.alg)) {
    // jose's importJWK hands back the raw bytes of an 'oct' key (and then imports them on
    // every call): make the HMAC CryptoKey here instead.
    const secret = await webcrypto.subtle.importKey(
      'raw',
      key.verifyKey.export(),
      { name: 'HMAC', hash: HMAC_HASH[key.alg] },
      false,
      ['sign', 'verify'],
    );
    return { alg: key.alg, kid: key.kid, signKey: secret, verifyKey: secret };
  }
  const verifyKey = (await importJWK(jwkOf(key.verifyKey, key.alg), key.alg)) as webcrypto.CryptoKey;
  const signKey =
    key.signKey === undefined
      ? undefined
      : ((await importJWK(jwkOf(key.signKey, key.alg), key.alg)) as webcrypto.CryptoKey);
  const kid = key.kid ?? (await calculateJwkThumbprint(key.verifyKey.export({ format: 'jwk' }) as JWK, 'sha256'));
  return { alg: key.alg, kid, signKey, verifyKey };
}

/** Imports the 32-byte A256GCM content-encryption key for jose's `dir` JWE. */
export function importEncryptionKey(bytes: Uint8Array): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('raw', bytes, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}
