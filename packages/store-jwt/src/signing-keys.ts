// Signing keys: the checks of the `secret`, `keys` and `encrypt` options (their types are
// in key-types.ts), run in the constructor (secrets, kids, each `keys` entry; a key pair's
// inputs in key-input.ts and pem.ts). Importing them with Web Crypto is key-import.ts.
import { hasControlCharacters, invalidOption } from '@sessionkit/core';
import { MAX_KID_LENGTH, STORE } from './constants.js';
import { checkKeyInput, describe } from './key-input.js';

export type {
  AsymmetricAlgorithm,
  CheckedKey,
  EncryptionSecret,
  HmacAlgorithm,
  JwtAlgorithm,
  JwtKeySpec,
  KeyInput,
  KeyPairSpec,
  KeyPart,
  KeySource,
  NodeKeyObject,
  ResolvedKey,
  SecretKeySpec,
} from './key-types.js';

import type { AsymmetricAlgorithm, CheckedKey, EncryptionSecret, HmacAlgorithm, JwtAlgorithm } from './key-types.js';

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
