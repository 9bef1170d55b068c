// One key input of a key pair, checked without any crypto: a Web Crypto `CryptoKey` (its
// type, algorithm and usages), a Node `KeyObject` (exported to a JWK, synchronously), a
// JWK's members, or a PEM string (pem.ts). Web Crypto imports it later (key-import.ts).
import { describeError, invalidOption } from '@sessionkit/core';
import type { CryptoKey, JWK } from 'jose';
import { STORE } from './constants.js';
import type { AsymmetricAlgorithm, KeyPart, NodeKeyObject } from './key-types.js';
import { fromPem } from './pem.js';

/** What a bad option value is, for messages: `null`, `an array` or its `typeof`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function tagOf(value: object): unknown {
  try {
    return (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  } catch {
    return undefined;
  }
}

function isCryptoKey(value: object): value is CryptoKey {
  const CK = (globalThis as { CryptoKey?: abstract new () => object }).CryptoKey;
  return (CK !== undefined && value instanceof CK) || tagOf(value) === 'CryptoKey';
}

/** base64url of exactly `bytes` bytes (the canonical spelling). */
function isB64Bytes(value: unknown, bytes: number): boolean {
  return typeof value === 'string' && value.length === Math.ceil((bytes * 4) / 3) && /^[A-Za-z0-9_-]*$/.test(value);
}

/** The algorithm a JWK is for, or a problem with its fields (named after `field`). */
function algorithmOfJwk(
  field: string,
  entry: string,
  jwk: Record<string, unknown>,
  type: 'private' | 'public',
): AsymmetricAlgorithm {
  let alg: AsymmetricAlgorithm;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    if (!isB64Bytes(jwk.x, 32) || !isB64Bytes(jwk.y, 32)) {
      throw invalidOption(STORE, field, 'is not a valid P-256 JWK: x and y must be 32 bytes each, base64url');
    }
    alg = 'ES256';
  } else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    if (!isB64Bytes(jwk.x, 32)) {
      throw invalidOption(STORE, field, 'is not a valid Ed25519 JWK: x must be 32 bytes, base64url');
    }
    alg = 'EdDSA';
  } else if (typeof jwk.kty === 'string') {
    throw invalidOption(
      STORE,
      entry,
      `has an unsupported key type (${jwk.kty}${typeof jwk.crv === 'string' ? ` ${jwk.crv}` : ''}); use an EC P-256 key (ES256) or an Ed25519 key (EdDSA)`,
    );
  } else {
    throw invalidOption(STORE, field, 'is not a JWK: kty is missing');
  }
  if (jwk.d !== undefined && !isB64Bytes(jwk.d, 32)) {
    throw invalidOption(STORE, field, 'is not a valid JWK: d must be 32 bytes, base64url');
  }
  if (type === 'private' && jwk.d === undefined) {
    throw invalidOption(STORE, field, 'must be a private key, got a public key');
  }
  return alg;
}

/** A JWK with only the members Web Crypto needs (public: no d). */
function cleanJwk(jwk: Record<string, unknown>, type: 'private' | 'public'): JWK {
  const out: JWK = { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string };
  if (jwk.kty === 'EC') out.y = jwk.y as string;
  if (type === 'private') out.d = jwk.d as string;
  return out;
}

function algorithmOfCryptoKey(entry: string, key: CryptoKey): AsymmetricAlgorithm {
  const algorithm = key.algorithm as { name?: unknown; namedCurve?: unknown };
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ES256';
  if (algorithm.name === 'Ed25519' || (algorithm.name === 'EdDSA' && algorithm.namedCurve === 'Ed25519')) {
    return 'EdDSA';
  }
  throw invalidOption(
    STORE,
    entry,
    `has an unsupported key type (${String(algorithm.name)}${algorithm.namedCurve ? ` ${String(algorithm.namedCurve)}` : ''}); use an ECDSA P-256 key (ES256) or an Ed25519 key (EdDSA)`,
  );
}

/**
 * Checks one key input (option `field`, in the `keys` entry `entry`) without any crypto.
 * A private key given as publicKey stands for its public part.
 */
export function checkKeyInput(
  field: string,
  entry: string,
  value: unknown,
  type: 'private' | 'public',
): { alg: AsymmetricAlgorithm; part: KeyPart } {
  if (typeof value === 'string') return fromPem(field, entry, value, type);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(
      STORE,
      field,
      `must be a CryptoKey, KeyObject, JWK object or PEM string, got ${describe(value)}`,
    );
  }
  if (isCryptoKey(value)) {
    if (value.type === 'secret' || (type === 'private' && value.type !== 'private')) {
      throw invalidOption(STORE, field, `must be a ${type} key, got a ${value.type} key`);
    }
    const alg = algorithmOfCryptoKey(entry, value);
    const usage = value.type === 'private' ? 'sign' : 'verify';
    if (!value.usages.includes(usage)) {
      throw invalidOption(STORE, field, `must be usable to ${usage} (its usages lack '${usage}')`);
    }
    return {
      alg,
      part: { field, type: value.type as 'private' | 'public', source: { form: 'cryptokey', key: value } },
    };
  }
  let jwk: Record<string, unknown>;
  if (tagOf(value) === 'KeyObject') {
    const keyObject = value as NodeKeyObject;
    if (keyObject.type === 'secret' || (type === 'private' && keyObject.type !== 'private')) {
      throw invalidOption(STORE, field, `must be a ${type} key, got a ${keyObject.type} key`);
    }
    try {
      jwk = keyObject.export({ format: 'jwk' }) as Record<string, unknown>;
    } catch (error) {
      throw invalidOption(STORE, entry, `has an unsupported key type: ${describeError(error)}`, error);
    }
  } else {
    jwk = value as Record<string, unknown>;
  }
  const alg = algorithmOfJwk(field, entry, jwk, type);
  const own = jwk.d === undefined ? 'public' : 'private';
  return { alg, part: { field, type: own, source: { form: 'jwk', jwk: cleanJwk(jwk, own) } } };
}
