// The key types of the `secret`, `keys` and `encrypt` options and of the keys the store
// resolves from them. Types only: every key module imports them from here.
import type { CryptoKey, JWK } from 'jose';

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
