// Web Crypto imports, once per store: each checked key becomes the `CryptoKey`s jose
// signs and verifies with (HMAC for HSxxx, ECDSA P-256 for ES256, Ed25519 for EdDSA), a
// key pair is checked to match, a key-pair `kid` defaults to its JWK thumbprint, and the
// `encrypt` secret becomes the A256GCM key. Uses only `crypto.subtle`, no `node:` module.
import { describeError } from '@sessionkit/core';
import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import {
  type AsymmetricAlgorithm,
  type CheckedKey,
  type EncryptionSecret,
  type HmacAlgorithm,
  KeyImportError,
  type KeyPart,
  type NodeKeyObject,
  type ResolvedKey,
} from './signing-keys.js';

const HMAC_HASH: Record<HmacAlgorithm, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

/** The part of Web Crypto's SubtleCrypto used here (typed without the DOM or Node libraries). */
interface Subtle {
  importKey(
    format: string,
    data: unknown,
    algorithm: unknown,
    extractable: boolean,
    usages: string[],
  ): Promise<CryptoKey>;
  exportKey(format: 'jwk', key: CryptoKey): Promise<JsonWebKey>;
  sign(algorithm: unknown, key: CryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  verify(algorithm: unknown, key: CryptoKey, signature: ArrayBuffer, data: Uint8Array): Promise<boolean>;
  deriveBits(algorithm: unknown, key: CryptoKey, length: number): Promise<ArrayBuffer>;
}
type JsonWebKey = JWK;

function webAlgorithm(alg: AsymmetricAlgorithm): { name: string; namedCurve?: string } {
  return alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'Ed25519' };
}

function subtle(): Subtle {
  return (globalThis as unknown as { crypto: { subtle: Subtle } }).crypto.subtle;
}

/** The public JWK (kty, crv, x, y) of an exported JWK. */
function publicJwk(jwk: JsonWebKey): JWK {
  const out: JWK = { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string };
  if (jwk.kty === 'EC') out.y = jwk.y as string;
  return out;
}

/**
 * The public JWK of a non-extractable private CryptoKey: Web Crypto cannot tell it, so
 * only where Node's crypto module is there (Node, Bun, Deno) through KeyObject.from.
 */
function nodePublicJwk(key: CryptoKey): JWK | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const nodeCrypto = proc?.getBuiltinModule?.('node:crypto') as
    | { KeyObject?: { from(key: CryptoKey): NodeKeyObject } }
    | undefined;
  const from = nodeCrypto?.KeyObject?.from;
  if (typeof from !== 'function') return undefined;
  return publicJwk(from(key).export({ format: 'jwk' }));
}

/** The private key of a part as a non-extractable signing CryptoKey, and its public JWK when it can be read. */
async function importPrivate(
  alg: AsymmetricAlgorithm,
  part: KeyPart,
): Promise<{ signKey: CryptoKey; publicJwk: JWK | undefined }> {
  const source = part.source;
  if (source.form === 'cryptokey') {
    const key = source.key;
    if (key.extractable) return { signKey: key, publicJwk: publicJwk(await subtle().exportKey('jwk', key)) };
    return { signKey: key, publicJwk: nodePublicJwk(key) };
  }
  // Imported extractable once, to read its public part (computed from the private key).
  const extractable =
    source.form === 'jwk'
      ? await subtle().importKey('jwk', source.jwk, webAlgorithm(alg), true, ['sign'])
      : await subtle().importKey('pkcs8', source.der, webAlgorithm(alg), true, ['sign']);
  const exported = await subtle().exportKey('jwk', extractable);
  if (source.form === 'jwk' && (exported.x !== source.jwk.x || exported.y !== source.jwk.y)) {
    throw new KeyImportError(part.field, 'has x/y members that are not the public part of its d');
  }
  const signKey = await subtle().importKey('jwk', exported, webAlgorithm(alg), false, ['sign']);
  return { signKey, publicJwk: publicJwk(exported) };
}

async function importPublic(alg: AsymmetricAlgorithm, part: KeyPart): Promise<JWK | undefined> {
  if (part.type === 'private') return (await importPrivate(alg, part)).publicJwk;
  const source = part.source;
  if (source.form === 'jwk') {
    // Web Crypto checks the point is on the curve
    await subtle().importKey('jwk', source.jwk, webAlgorithm(alg), false, ['verify']);
    return source.jwk;
  }
  const key =
    source.form === 'spki'
      ? await subtle().importKey('spki', source.der, webAlgorithm(alg), true, ['verify'])
      : (source as { key: CryptoKey }).key;
  if (!key.extractable) return undefined;
  return publicJwk(await subtle().exportKey('jwk', key));
}

/** True when `verifyKey` verifies what `signKey` signs (a pair whose public part cannot be read). */
async function pairs(alg: AsymmetricAlgorithm, signKey: CryptoKey, verifyKey: CryptoKey): Promise<boolean> {
  const data = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const params = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  const signature = await subtle().sign(params, signKey, data);
  return subtle().verify(params, verifyKey, signature, data);
}

async function importAsymmetric(key: Extract<CheckedKey, { secret?: undefined }>): Promise<ResolvedKey> {
  const { alg } = key;
  const priv = key.privateKey === undefined ? undefined : await importPrivate(alg, key.privateKey);
  const pub = key.publicKey === undefined ? undefined : await importPublic(alg, key.publicKey);
  const given = key.publicKey?.source;
  let jwk: JWK | undefined;
  let verifyKey: CryptoKey;
  if (pub !== undefined) {
    jwk = pub;
    verifyKey = (await importJWK({ ...pub, alg }, alg)) as CryptoKey;
  } else if (given?.form === 'cryptokey' && given.key.type === 'public') {
    verifyKey = given.key; // a non-extractable public CryptoKey
    jwk = priv?.publicJwk;
  } else if (priv?.publicJwk !== undefined) {
    jwk = priv.publicJwk;
    verifyKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  } else {
    throw new KeyImportError(
      `${key.field}.publicKey`,
      'is required: the privateKey is a non-extractable CryptoKey, whose public key Web Crypto cannot derive on this runtime (give publicKey, or an extractable privateKey)',
    );
  }
  if (priv !== undefined && key.publicKey !== undefined) {
    const same =
      pub !== undefined && priv.publicJwk !== undefined
        ? pub.x === priv.publicJwk.x && pub.y === priv.publicJwk.y
        : await pairs(alg, priv.signKey, verifyKey); // one side cannot be read: sign and verify
    if (!same) throw new KeyImportError(`${key.field}.publicKey`, 'does not match privateKey');
  }
  if (jwk === undefined && key.kid === undefined) {
    throw new KeyImportError(
      `${key.field}.kid`,
      'is required: the key is a non-extractable CryptoKey, so its JWK thumbprint (the default kid) cannot be computed',
    );
  }
  const kid = key.kid ?? (await calculateJwkThumbprint(jwk as JWK, 'sha256'));
  return { alg, kid, signKey: priv?.signKey, verifyKey };
}

/**
 * Imports a checked key as the CryptoKeys jose uses (HMAC keys for HSxxx, ECDSA P-256 for
 * ES256, Ed25519 for EdDSA): jose would otherwise re-import a secret on every call.
 * Asymmetric keys without a kid get their RFC 7638 JWK thumbprint as kid. Rejects with a
 * {@link KeyImportError} naming the option when Web Crypto refuses the key.
 */
export async function importKey(key: CheckedKey): Promise<ResolvedKey> {
  try {
    if (key.secret !== undefined) {
      // jose's importJWK hands back the raw bytes of an 'oct' key (and then imports them on
      // every call): make the HMAC CryptoKey here instead.
      const secret = await subtle().importKey('raw', key.secret, { name: 'HMAC', hash: HMAC_HASH[key.alg] }, false, [
        'sign',
        'verify',
      ]);
      return { alg: key.alg, kid: key.kid, signKey: secret, verifyKey: secret };
    }
    return await importAsymmetric(key);
  } catch (error) {
    if (error instanceof KeyImportError) throw error;
    const field = key.secret !== undefined ? key.field : (key.privateKey?.field ?? key.publicKey?.field ?? key.field);
    throw new KeyImportError(field, `cannot be imported: ${describeError(error)}`, {
      cause: error,
    });
  }
}

const HKDF_INFO = new TextEncoder().encode('sessionkit/store-jwt A256GCM');

/**
 * The 32-byte A256GCM content-encryption key for jose's `dir` JWE: the secret itself, or
 * HKDF-SHA256 of it (empty salt, info `sessionkit/store-jwt A256GCM`).
 */
export async function importEncryptionKey(field: string, secret: EncryptionSecret): Promise<CryptoKey> {
  try {
    let bytes = secret.bytes;
    if (secret.stretch) {
      const ikm = await subtle().importKey('raw', bytes, 'HKDF', false, ['deriveBits']);
      bytes = new Uint8Array(
        await subtle().deriveBits(
          { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: HKDF_INFO },
          ikm,
          256,
        ),
      );
    }
    return await subtle().importKey('raw', bytes, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  } catch (error) {
    throw new KeyImportError(field, `cannot be imported: ${describeError(error)}`, {
      cause: error,
    });
  }
}
