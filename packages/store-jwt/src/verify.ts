// Reading a token: the verify cache (verified tokens, least recently used out first), the
// decryption of a JWE this store wrote, the signature checks (the store's own header
// first, then other configured keys and the JWKS, only with allowed algorithms and
// header parameters), and the claims (claims.ts). Anything else reads `null`.
import { cloneRecord } from '@sessionkit/core';
import {
  type CryptoKey,
  compactDecrypt,
  compactVerify,
  type createLocalJWKSet,
  type DecryptOptions,
  decodeProtectedHeader,
  type VerifyOptions,
} from 'jose';
import { isCanonicalB64, isHighS } from './canonical.js';
import { type ClaimRules, type Claims, readPayload } from './claims.js';
import type { Encryption, KeyRing, Prepared } from './key-ring.js';
import { isHmac, isSupportedAlgorithm, type JwtAlgorithm, type ResolvedKey } from './signing-keys.js';

/** A JSON Web Key Set loaded by jose (`createLocalJWKSet`). */
export type LocalJwks = ReturnType<typeof createLocalJWKSet>;

/** What the verifier is configured with (from the options). */
export interface VerifierConfig {
  readonly claims: ClaimRules;
  /** Algorithms of the configured keys (and ES256/EdDSA with a JWKS): nothing else verifies. */
  readonly algorithms: ReadonlySet<JwtAlgorithm>;
  readonly jwks: LocalJwks | undefined;
  readonly encryption: Encryption | undefined;
  readonly maxTokenBytes: number;
  /** 0: no cache. */
  readonly verifyCacheSize: number;
}

/** jose options that allow only one algorithm (the one the key is for). */
const VERIFY_OPTIONS: Record<JwtAlgorithm, VerifyOptions> = {
  HS256: { algorithms: ['HS256'] },
  HS384: { algorithms: ['HS384'] },
  HS512: { algorithms: ['HS512'] },
  ES256: { algorithms: ['ES256'] },
  EdDSA: { algorithms: ['EdDSA'] },
};
const DECRYPT_OPTIONS: DecryptOptions = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };
/** Header parameters no token may carry: extensions (crit, RFC 7797's b64) and keys named by the token itself. */
const REFUSED_HEADERS = ['crit', 'b64', 'jwk', 'jku', 'x5u', 'x5c'];
/** get accepts tokens from other issuers up to this many times maxTokenBytes. */
const MAX_TOKEN_FACTOR = 4;
const MIN_TOKEN_CHARS = 16;

const utf8Decoder = new TextDecoder();

/** The payload of `jws` when `key` verifies it (only with the key's own algorithm), else undefined. */
async function verifyWith(jws: string, key: ResolvedKey): Promise<Uint8Array | undefined> {
  if (key.alg === 'ES256' && isHighS(jws.slice(jws.lastIndexOf('.') + 1))) return undefined;
  try {
    return (await compactVerify(jws, key.verifyKey, VERIFY_OPTIONS[key.alg])).payload;
  } catch {
    return undefined; // a bad signature, or a token jose refuses
  }
}

/** Verifies tokens and reads the records they carry, remembering those that verified. */
export class TokenVerifier {
  readonly #config: VerifierConfig;
  /** Verified tokens, least recently used first (undefined: verifyCacheSize 0). */
  readonly #verified: Map<string, Claims> | undefined;

  constructor(config: VerifierConfig) {
    this.#config = config;
    this.#verified = config.verifyCacheSize > 0 ? new Map() : undefined;
  }

  /**
   * Verifies a token (jose's compactDecrypt and compactVerify) and reads the record it
   * carries: `null` for anything that is not a valid token of this store (malformed,
   * tampered, foreign, wrong algorithm or key, wrong issuer or audience). What is cached is
   * the verification, never the decision: each call returns its own copy of the record.
   */
  async verify(token: string, keys: KeyRing, operation: string): Promise<Claims | null> {
    const config = this.#config;
    if (token.length > config.maxTokenBytes * MAX_TOKEN_FACTOR || token.length < MIN_TOKEN_CHARS) return null;
    const cache = this.#verified;
    if (cache !== undefined) {
      const hit = cache.get(token);
      if (hit !== undefined) {
        cache.delete(token); // now the most recently used
        cache.set(token, hit);
        return { record: cloneRecord(hit.record), check: hit.check };
      }
    }
    const p = keys.prepared ?? (await keys.load(operation));
    try {
      let jws = token;
      if (config.encryption !== undefined) {
        const inner = await decrypt(config.encryption, p, token);
        if (inner === null) return null;
        jws = inner;
      }
      const first = jws.indexOf('.');
      const last = jws.lastIndexOf('.');
      if (first <= 0 || last === first || jws.indexOf('.', first + 1) !== last) return null;
      if (!isCanonicalB64(jws.slice(last + 1))) return null;
      const known = p.knownHeaders.get(jws.slice(0, first));
      const payload =
        (known !== undefined ? await verifyWith(jws, known) : undefined) ?? (await this.#verifyOthers(p, jws, known));
      const claims = payload === undefined ? null : readPayload(config.claims, token, payload);
      // Only tokens no longer than maxTokenBytes: the cache stays within about
      // 2 x maxTokenBytes per entry (the token and its record).
      if (claims !== null && cache !== undefined && token.length <= config.maxTokenBytes) {
        if (cache.size >= config.verifyCacheSize) cache.delete(cache.keys().next().value as string);
        // The caller gets claims.record; the cache keeps its own copy.
        cache.set(token, { record: cloneRecord(claims.record), check: claims.check });
      }
      return claims;
    } catch {
      return null;
    }
  }

  /** Drops a token from the cache (get found it expired). */
  forget(token: string): void {
    this.#verified?.delete(token);
  }

  /** Empties the cache (close). */
  clear(): void {
    this.#verified?.clear();
  }

  /** The slow path: a header this store did not write itself (another kid, a JWKS key). */
  async #verifyOthers(p: Prepared, jws: string, tried: ResolvedKey | undefined): Promise<Uint8Array | undefined> {
    const header: Record<string, unknown> = decodeProtectedHeader(jws);
    const { alg, kid, typ } = header;
    // Only the configured algorithms; 'none' and anything else are never accepted.
    if (!isSupportedAlgorithm(alg) || !this.#config.algorithms.has(alg)) return undefined;
    // No extensions are understood, and keys named by the token itself are never used.
    for (const name of REFUSED_HEADERS) if (name in header) return undefined;
    if (typ !== undefined && (typeof typ !== 'string' || !/^(application\/)?jwt$/i.test(typ))) return undefined;
    if (kid !== undefined && typeof kid !== 'string') return undefined;
    // Keys configured for this algorithm: the one with this kid, or (no kid) any of them.
    for (const key of p.keys) {
      if (key === tried || key.alg !== alg || (kid !== undefined && key.kid !== kid)) continue;
      const payload = await verifyWith(jws, key);
      if (payload !== undefined) return payload;
    }
    const jwks = this.#config.jwks;
    if (jwks !== undefined && !isHmac(alg) && (kid === undefined || !p.keys.some((k) => k.kid === kid))) {
      // jose picks the JWKS key by kid and key type, and checks it is one for alg.
      if (alg === 'ES256' && isHighS(jws.slice(jws.lastIndexOf('.') + 1))) return undefined;
      return (await compactVerify(jws, jwks, VERIFY_OPTIONS[alg])).payload;
    }
    return undefined;
  }
}

/** The signed token inside a JWE, or null when it is not one this store made. */
async function decrypt(encryption: Encryption, p: Prepared, token: string): Promise<string | null> {
  const parts = token.split('.');
  if (parts.length !== 5 || parts[1] !== '') return null; // 'dir': no encrypted key
  for (let i = 2; i < 5; i++) if (!isCanonicalB64(parts[i] as string)) return null;
  if (parts[0] !== encryption.headerB64) {
    const header: Record<string, unknown> = decodeProtectedHeader(token);
    if (header.alg !== 'dir' || header.enc !== 'A256GCM' || 'crit' in header || 'zip' in header) return null;
    if (header.kid !== undefined && header.kid !== encryption.kid) return null;
  }
  const { plaintext } = await compactDecrypt(token, p.cek as CryptoKey, DECRYPT_OPTIONS);
  return utf8Decoder.decode(plaintext);
}
