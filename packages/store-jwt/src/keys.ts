import { SessionError } from '@sessionkit/core';
import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK } from 'jose';

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

function optionError(field: string, problem: string, cause?: unknown): SessionError {
  return new SessionError('INVALID', `option ${field} ${problem}`, {
    store: 'jwt',
    operation: 'constructor',
    field,
    cause,
  });
}

/** The bytes of a secret option (a private copy), checked to be at least `min` bytes. */
export function secretBytes(field: string, value: unknown, min = 32): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = utf8.encode(value);
  else if (value instanceof Uint8Array) bytes = value.slice();
  else throw optionError(field, `must be a string or a Uint8Array of at least ${min} bytes, got ${describe(value)}`);
  if (bytes.length < min) {
    throw optionError(
      field,
      `must be at least ${min} bytes (256 bits), got ${bytes.length}; use crypto.getRandomValues(new Uint8Array(32))`,
    );
  }
  return bytes;
}

function describe(value: unknown): string {
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

// ---- synchronous checks ----

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
      throw optionError(field, 'is not a valid P-256 JWK: x and y must be 32 bytes each, base64url');
    }
    alg = 'ES256';
  } else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    if (!isB64Bytes(jwk.x, 32)) throw optionError(field, 'is not a valid Ed25519 JWK: x must be 32 bytes, base64url');
    alg = 'EdDSA';
  } else if (typeof jwk.kty === 'string') {
    throw optionError(
      entry,
      `has an unsupported key type (${jwk.kty}${typeof jwk.crv === 'string' ? ` ${jwk.crv}` : ''}); use an EC P-256 key (ES256) or an Ed25519 key (EdDSA)`,
    );
  } else {
    throw optionError(field, 'is not a JWK: kty is missing');
  }
  if (jwk.d !== undefined && !isB64Bytes(jwk.d, 32)) {
    throw optionError(field, 'is not a valid JWK: d must be 32 bytes, base64url');
  }
  if (type === 'private' && jwk.d === undefined) throw optionError(field, 'must be a private key, got a public key');
  return alg;
}

/** A JWK with only the members Web Crypto needs (public: no d). */
function cleanJwk(jwk: Record<string, unknown>, type: 'private' | 'public'): JWK {
  const out: JWK = { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string };
  if (jwk.kty === 'EC') out.y = jwk.y as string;
  if (type === 'private') out.d = jwk.d as string;
  return out;
}

// DER object identifiers (contents bytes) of the key types accepted in PEM.
const OID_EC = '2a8648ce3d0201';
const OID_P256 = '2a8648ce3d030107';
const OID_ED25519 = '2b6570';

/** One DER element at `pos`: its tag and where its contents start and end. */
function der(bytes: Uint8Array, pos: number): { tag: number; start: number; end: number } {
  const tag = bytes[pos];
  let length = bytes[pos + 1];
  if (tag === undefined || length === undefined) throw new Error('truncated');
  let start = pos + 2;
  if (length > 0x80) {
    const n = length - 0x80;
    if (n > 3) throw new Error('length too long');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (bytes[start + i] ?? Number.NaN);
    start += n;
  } else if (length === 0x80) throw new Error('indefinite length');
  const end = start + length;
  if (!(end <= bytes.length)) throw new Error('truncated');
  return { tag, start, end };
}

function hex(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) out += (bytes[i] as number).toString(16).padStart(2, '0');
  return out;
}

/** The algorithm of a PKCS#8 or SPKI DER key, from its AlgorithmIdentifier. */
function algorithmOfDer(bytes: Uint8Array, form: 'pkcs8' | 'spki'): string | AsymmetricAlgorithm {
  const outer = der(bytes, 0);
  if (outer.tag !== 0x30 || outer.end !== bytes.length) throw new Error('not a DER SEQUENCE');
  let pos = outer.start;
  if (form === 'pkcs8') {
    const version = der(bytes, pos);
    if (version.tag !== 0x02) throw new Error('no version');
    pos = version.end;
  }
  const algId = der(bytes, pos);
  if (algId.tag !== 0x30) throw new Error('no AlgorithmIdentifier');
  const oid = der(bytes, algId.start);
  if (oid.tag !== 0x06) throw new Error('no algorithm OID');
  const name = hex(bytes, oid.start, oid.end);
  if (name === OID_ED25519) return 'EdDSA';
  if (name === OID_EC) {
    const curve = oid.end < algId.end ? der(bytes, oid.end) : undefined;
    if (curve?.tag === 0x06 && hex(bytes, curve.start, curve.end) === OID_P256) return 'ES256';
    return 'an EC key on another curve than P-256';
  }
  return `OID ${name}`;
}

const PEM = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]+?)-----END \1-----\s*$/;

function fromPem(
  field: string,
  entry: string,
  pem: string,
  type: 'private' | 'public',
): { alg: AsymmetricAlgorithm; part: KeyPart } {
  const m = PEM.exec(pem);
  if (m === null) {
    throw optionError(field, 'is not a PEM key (-----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----)');
  }
  const label = m[1] as string;
  let form: 'pkcs8' | 'spki';
  if (label === 'PRIVATE KEY') form = 'pkcs8';
  else if (label === 'PUBLIC KEY') form = 'spki';
  else {
    throw optionError(
      field,
      `is a PEM "${label}"; give a PKCS#8 "PRIVATE KEY" or an SPKI "PUBLIC KEY" (openssl pkcs8 -topk8 -nocrypt converts one)`,
    );
  }
  if (type === 'private' && form === 'spki') throw optionError(field, 'must be a private key, got a public key');
  let bytes: Uint8Array;
  let alg: string;
  try {
    const text = atob((m[2] as string).replace(/\s+/g, ''));
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    alg = algorithmOfDer(bytes, form);
  } catch (error) {
    throw optionError(field, `is not a valid PEM key: ${(error as Error).message}`, error);
  }
  if (alg !== 'ES256' && alg !== 'EdDSA') {
    throw optionError(
      entry,
      `has an unsupported key type (${alg}); use an EC P-256 key (ES256) or an Ed25519 key (EdDSA)`,
    );
  }
  return { alg, part: { field, type: form === 'pkcs8' ? 'private' : 'public', source: { form, der: bytes } } };
}

function algorithmOfCryptoKey(entry: string, key: CryptoKey): AsymmetricAlgorithm {
  const algorithm = key.algorithm as { name?: unknown; namedCurve?: unknown };
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ES256';
  if (algorithm.name === 'Ed25519' || (algorithm.name === 'EdDSA' && algorithm.namedCurve === 'Ed25519')) {
    return 'EdDSA';
  }
  throw optionError(
    entry,
    `has an unsupported key type (${String(algorithm.name)}${algorithm.namedCurve ? ` ${String(algorithm.namedCurve)}` : ''}); use an ECDSA P-256 key (ES256) or an Ed25519 key (EdDSA)`,
  );
}

/**
 * Checks one key input without any crypto: a CryptoKey's type and algorithm, a Node
 * KeyObject (exported to a JWK, synchronously), a JWK's members, a PEM's framing and key
 * type. A private key given as publicKey stands for its public part.
 */
function checkKeyInput(
  field: string,
  entry: string,
  value: unknown,
  type: 'private' | 'public',
): { alg: AsymmetricAlgorithm; part: KeyPart } {
  if (typeof value === 'string') return fromPem(field, entry, value, type);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(field, `must be a CryptoKey, KeyObject, JWK object or PEM string, got ${describe(value)}`);
  }
  if (isCryptoKey(value)) {
    if (value.type === 'secret' || (type === 'private' && value.type !== 'private')) {
      throw optionError(field, `must be a ${type} key, got a ${value.type} key`);
    }
    const alg = algorithmOfCryptoKey(entry, value);
    const usage = value.type === 'private' ? 'sign' : 'verify';
    if (!value.usages.includes(usage))
      throw optionError(field, `must be usable to ${usage} (its usages lack '${usage}')`);
    return {
      alg,
      part: { field, type: value.type as 'private' | 'public', source: { form: 'cryptokey', key: value } },
    };
  }
  let jwk: Record<string, unknown>;
  if (tagOf(value) === 'KeyObject') {
    const keyObject = value as NodeKeyObject;
    if (keyObject.type === 'secret' || (type === 'private' && keyObject.type !== 'private')) {
      throw optionError(field, `must be a ${type} key, got a ${keyObject.type} key`);
    }
    try {
      jwk = keyObject.export({ format: 'jwk' }) as Record<string, unknown>;
    } catch (error) {
      throw optionError(entry, `has an unsupported key type: ${(error as Error).message}`, error);
    }
  } else {
    jwk = value as Record<string, unknown>;
  }
  const alg = algorithmOfJwk(field, entry, jwk, type);
  const own = jwk.d === undefined ? 'public' : 'private';
  return { alg, part: { field, type: own, source: { form: 'jwk', jwk: cleanJwk(jwk, own) } } };
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
    return { alg, kid, field: secretField, secret: secretBytes(secretField, s.secret) };
  }
  const priv =
    s.privateKey === undefined ? undefined : checkKeyInput(`${field}.privateKey`, field, s.privateKey, 'private');
  const pub = s.publicKey === undefined ? undefined : checkKeyInput(`${field}.publicKey`, field, s.publicKey, 'public');
  if (!priv && !pub) {
    throw optionError(field, 'needs a secret, or a privateKey (and/or publicKey)');
  }
  if (current && !priv) {
    throw optionError(`${field}.privateKey`, 'is required for the current (first) key: it signs new tokens');
  }
  if (priv && pub && priv.alg !== pub.alg) {
    throw optionError(`${field}.publicKey`, `does not match privateKey (a ${pub.alg} key beside a ${priv.alg} key)`);
  }
  const inferred = (priv ?? pub)?.alg as AsymmetricAlgorithm;
  if (s.alg !== undefined && s.alg !== inferred) {
    throw optionError(`${field}.alg`, `is ${String(s.alg)} but the key is for ${inferred}`);
  }
  // Two JWKs (KeyObjects come as JWKs) can be compared now; other forms when imported.
  const a = priv?.part.source;
  const b = pub?.part.source;
  if (a?.form === 'jwk' && b?.form === 'jwk' && (a.jwk.x !== b.jwk.x || a.jwk.y !== b.jwk.y)) {
    throw optionError(`${field}.publicKey`, 'does not match privateKey');
  }
  return { alg: inferred, kid, field, privateKey: priv?.part, publicKey: pub?.part };
}

/** Checks the `encrypt.secret` option: the bytes the A256GCM key comes from (see {@link importEncryptionKey}). */
export function encryptionKeyBytes(field: string, value: unknown): { bytes: Uint8Array; stretch: boolean } {
  const bytes = secretBytes(field, value);
  // a Uint8Array of exactly 32 bytes is used as is (an interoperable 'dir' key)
  return { bytes, stretch: !(value instanceof Uint8Array && bytes.length === 32) };
}

// ---- import with Web Crypto (once per store) ----

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
    throw new KeyImportError(field, `cannot be imported: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  }
}

const HKDF_INFO = utf8.encode('sessionkit/store-jwt A256GCM');

/**
 * The 32-byte A256GCM content-encryption key for jose's `dir` JWE: the secret itself, or
 * HKDF-SHA256 of it (empty salt, info `sessionkit/store-jwt A256GCM`).
 */
export async function importEncryptionKey(
  field: string,
  secret: { bytes: Uint8Array; stretch: boolean },
): Promise<CryptoKey> {
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
    throw new KeyImportError(field, `cannot be imported: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  }
}
