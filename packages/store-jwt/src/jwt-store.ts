import {
  assertOptionsObject,
  checkRecord,
  checkUserArgs,
  cloneRecord,
  DEFAULT_OPERATION_TIMEOUT_MS,
  durationOption,
  expired,
  generateSessionId,
  instrumentStore,
  type JsonValue,
  OperationDeadlines,
  type RecordRules,
  readClock,
  rejectUnknownOptions,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
  unsupported,
  type ValidRecord,
} from '@sessionkit/core';
import {
  base64url,
  CompactEncrypt,
  type CompactJWEHeaderParameters,
  type CompactJWSHeaderParameters,
  CompactSign,
  type CryptoKey,
  compactDecrypt,
  compactVerify,
  createLocalJWKSet,
  type DecryptOptions,
  decodeProtectedHeader,
  type VerifyOptions,
} from 'jose';
import {
  type CheckedKey,
  checkKey,
  encryptionKeyBytes,
  importEncryptionKey,
  importKey,
  isHmac,
  isSupportedAlgorithm,
  type JwtAlgorithm,
  KeyImportError,
  type ResolvedKey,
} from './keys.js';
import { type JwtSessionStoreOptions, KNOWN_ENCRYPT_OPTIONS, KNOWN_OPTIONS } from './options.js';
import { MemoryRevocationStore, type RevocationCheck, type RevocationStore } from './revocation.js';

const STORE = 'jwt';
/** Default `maxTokenBytes`: what fits in a cookie. */
export const DEFAULT_MAX_TOKEN_BYTES = 4096;
/** Default `verifyCacheSize`: verified tokens kept (a few MB at most). */
export const DEFAULT_VERIFY_CACHE_SIZE = 1000;

/** base64url length of the signature of each algorithm. */
const SIGNATURE_CHARS: Record<JwtAlgorithm, number> = { HS256: 43, HS384: 64, HS512: 86, ES256: 86, EdDSA: 86 };
const B64URL = /^[A-Za-z0-9_-]*$/;

/** What a verified token carries. */
interface Claims {
  record: SessionRecord;
  check: RevocationCheck;
}

interface EncryptionState {
  kid: string | undefined;
  header: CompactJWEHeaderParameters;
  headerB64: string;
}

/** The keys, imported for jose once (asynchronously, started by the constructor). */
interface Prepared {
  /** Every key; the first signs. */
  keys: ResolvedKey[];
  signing: ResolvedKey & { signKey: CryptoKey };
  signingHeader: CompactJWSHeaderParameters;
  /** base64url of the signing header, plus the '.' */
  signingPrefixLength: number;
  /** Exact header segments this store writes, mapped to the key that made them. */
  knownHeaders: Map<string, ResolvedKey>;
  /** The A256GCM key, when encrypting. */
  cek: CryptoKey | undefined;
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

function b64len(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

function optionError(field: string, problem: string): SessionError {
  return new SessionError('INVALID', `option ${field} ${problem}`, { store: STORE, operation: 'constructor', field });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const v of value) if (typeof v !== 'string') return false;
  return true;
}

function isMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 8.64e15;
}

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when a base64url segment is the one canonical spelling of its bytes: no padding,
 * no other alphabet, and the unused low bits of the last character zero. jose (like most
 * decoders) accepts the other spellings, which would let one signature or ciphertext be
 * written several ways; a token has exactly one spelling here.
 */
function isCanonicalB64(segment: string): boolean {
  if (!B64URL.test(segment)) return false;
  const rem = segment.length % 4;
  if (rem === 1) return false;
  if (rem === 0) return true;
  const last = B64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** A thrown value's message, whatever was thrown. */
function describeError(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'a value that cannot be converted to a string';
  }
}

/**
 * Core's checks of a record for create, with a private copy of its metadata: each getter
 * is read once, so the token carries exactly the value that was checked and measured. A
 * record whose getters (or proxy) throw is INVALID naming `record`: the caller's value is
 * bad, and its own error never escapes.
 */
function checkCallerRecord(rules: RecordRules, input: SessionRecord): ValidRecord {
  try {
    return checkRecord(rules, input, { operation: 'create', customIds: false, output: 'copy' });
  } catch (error) {
    if (SessionError.isInstance(error)) throw error;
    throw new SessionError('INVALID', `record could not be read (a getter or proxy threw): ${describeError(error)}`, {
      store: STORE,
      operation: 'create',
      field: 'record',
      cause: error,
    });
  }
}

/** The order n of the P-256 group (ES256), big-endian; a signature is (r, s), each 32 bytes. */
const P256_N = fromHex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
/** floor(n / 2), big-endian: an ES256 signature with s above it is the high-s twin of (r, n - s). */
const P256_HALF_N = fromHex('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8');

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** True when the 32 bytes of `signature` from byte 32 on (s), big-endian, exceed floor(n / 2). */
function sAboveHalfN(signature: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    const a = signature[32 + i] as number;
    const b = P256_HALF_N[i] as number;
    if (a !== b) return a > b;
  }
  return false;
}

/** The bytes of a base64url segment (undefined when it does not decode). */
function decodeB64(segment: string): Uint8Array | undefined {
  try {
    return base64url.decode(segment);
  } catch {
    return undefined;
  }
}

/**
 * True when an ES256 signature (base64url, P-1363 r || s) has s > n/2. ECDSA verifies
 * (r, s) and (r, n - s) alike, so every token has a second spelling with the other s;
 * only the low one is accepted. Other lengths are left to jose (which rejects them).
 */
function isHighS(signatureB64: string): boolean {
  const signature = decodeB64(signatureB64);
  return signature !== undefined && signature.length === 64 && sAboveHalfN(signature);
}

/** The compact ES256 JWS with its signature's s made low (n - s when s > n/2). */
function withLowS(jws: string): string {
  const dot = jws.lastIndexOf('.');
  const signature = decodeB64(jws.slice(dot + 1));
  if (signature === undefined || signature.length !== 64 || !sAboveHalfN(signature)) return jws;
  let borrow = 0; // s = n - s, byte by byte from the least significant
  for (let i = 31; i >= 0; i--) {
    const d = (P256_N[i] as number) - (signature[32 + i] as number) - borrow;
    signature[32 + i] = d & 0xff;
    borrow = d < 0 ? 1 : 0;
  }
  return `${jws.slice(0, dot + 1)}${base64url.encode(signature)}`;
}

const UPDATE_HINT =
  'a JWT session cannot change after it is issued; issue a new token with create (and delete the old one)';

/**
 * A stateless {@link SessionStore}: the session id is a signed token (JWS, or JWE when
 * `encrypt` is set) that carries the whole record. `get` verifies it and returns the
 * record; nothing is stored, except revocations when `revocations` is given.
 *
 * @example
 * const store = new JwtSessionStore({ secret: process.env.SESSION_SECRET!, revocations: new MemoryRevocationStore() })
 * const token = await store.create({ id: '', userId: 'u1', tenantId: tenantId('acme'), ... })
 * const session = await store.get(token)
 */
export class JwtSessionStore implements SessionStore {
  readonly capabilities: StoreCapabilities;

  readonly #rules: RecordRules;
  /** Resolves once the keys are imported for jose; rejects (INVALID) if one cannot be. */
  readonly #ready: Promise<Prepared>;
  /** Set when {@link #ready} has resolved, so operations skip the await. */
  #prepared: Prepared | undefined;
  readonly #algorithms: ReadonlySet<JwtAlgorithm>;
  readonly #jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  readonly #issuer: string | undefined;
  readonly #audience: ReadonlySet<string> | undefined;
  readonly #claimsPrefix: string; // `"iss":…,"aud":…,` or ''
  readonly #encryption: EncryptionState | undefined;
  readonly #revocations: RevocationStore | undefined;
  readonly #memoryRevocations: MemoryRevocationStore | undefined;
  readonly #toleranceMs: number;
  readonly #maxTokenBytes: number;
  /** Verified tokens, least recently used first (undefined: verifyCacheSize 0). */
  readonly #verified: Map<string, Claims> | undefined;
  readonly #verifiedMax: number;
  /** Bounds every call to `revocations` (one unref'd timer for all of them). */
  readonly #deadlines: OperationDeadlines;

  constructor(options: JwtSessionStoreOptions) {
    assertOptionsObject(STORE, options as unknown);
    rejectUnknownOptions(STORE, options, KNOWN_OPTIONS);
    const rules = resolveRecordRules(STORE, options);
    const clock = rules.clock;
    // A clock that throws is a failure of the store's environment: STORAGE, never the
    // clock's own error (every rejection is a SessionError).
    this.#rules = {
      ...rules,
      clock: () => {
        try {
          return clock();
        } catch (error) {
          throw new SessionError('STORAGE', `clock() threw: ${describeError(error)}`, {
            store: STORE,
            field: 'clock',
            cause: error,
          });
        }
      },
    };

    const algorithm = options.algorithm ?? 'HS256';
    if (!isHmac(algorithm)) {
      throw optionError(
        'algorithm',
        `must be 'HS256', 'HS384' or 'HS512' (the HMAC algorithm for secret), got ${String(algorithm)}`,
      );
    }
    if (options.secret !== undefined && options.keys !== undefined) {
      throw optionError('secret', 'and option keys cannot both be given: put the secret in keys');
    }
    let checked: CheckedKey[];
    if (options.secret !== undefined) {
      checked = [checkKey('secret', { secret: options.secret }, algorithm, true, 'secret')];
    } else if (options.keys !== undefined) {
      if (!Array.isArray(options.keys) || options.keys.length === 0) {
        throw optionError('keys', 'must be a non-empty array; the first key signs, every key verifies');
      }
      checked = options.keys.map((spec, i) => checkKey(`keys[${i}]`, spec, algorithm, i === 0));
      const kids = new Set<string>();
      for (const [i, key] of checked.entries()) {
        if (key.kid === undefined) continue;
        if (kids.has(key.kid)) throw optionError(`keys[${i}].kid`, `repeats kid ${JSON.stringify(key.kid)}`);
        kids.add(key.kid);
      }
    } else {
      throw optionError('secret', 'or option keys is required (a secret of at least 32 bytes, or key pairs)');
    }
    const algorithms = new Set<JwtAlgorithm>(checked.map((k) => k.alg));
    if (options.jwks !== undefined) {
      if (!isPlainObject(options.jwks) || !Array.isArray(options.jwks.keys)) {
        throw optionError('jwks', 'must be a JSON Web Key Set: { keys: [...] }');
      }
      try {
        this.#jwks = createLocalJWKSet(options.jwks as never);
      } catch (error) {
        throw new SessionError('INVALID', `option jwks is not a valid JSON Web Key Set: ${(error as Error).message}`, {
          store: STORE,
          operation: 'constructor',
          field: 'jwks',
          cause: error,
        });
      }
      algorithms.add('ES256');
      algorithms.add('EdDSA');
    }
    this.#algorithms = algorithms;

    if (options.issuer !== undefined && (typeof options.issuer !== 'string' || options.issuer === '')) {
      throw optionError('issuer', 'must be a non-empty string');
    }
    this.#issuer = options.issuer;
    let audience: string[] | undefined;
    if (options.audience !== undefined) {
      audience = typeof options.audience === 'string' ? [options.audience] : options.audience;
      if (
        !Array.isArray(audience) ||
        audience.length === 0 ||
        !audience.every((a) => typeof a === 'string' && a !== '')
      ) {
        throw optionError('audience', 'must be a non-empty string or a non-empty array of them');
      }
    }
    this.#audience = audience ? new Set(audience) : undefined;
    let prefix = '';
    if (this.#issuer !== undefined) prefix += `"iss":${JSON.stringify(this.#issuer)},`;
    if (audience !== undefined) {
      prefix += `"aud":${JSON.stringify(audience.length === 1 ? audience[0] : audience)},`;
    }
    this.#claimsPrefix = prefix;

    let encryptionKey: ReturnType<typeof encryptionKeyBytes> | undefined;
    if (options.encrypt !== undefined) {
      if (!isPlainObject(options.encrypt)) throw optionError('encrypt', 'must be an object like { secret }');
      rejectUnknownOptions(STORE, options.encrypt, KNOWN_ENCRYPT_OPTIONS, 'encrypt.');
      encryptionKey = encryptionKeyBytes('encrypt.secret', options.encrypt.secret);
      const kid = options.encrypt.kid;
      if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > 256)) {
        throw optionError('encrypt.kid', 'must be a non-empty string of at most 256 characters');
      }
      const header: CompactJWEHeaderParameters =
        kid === undefined
          ? { alg: 'dir', enc: 'A256GCM', cty: 'JWT' }
          : { alg: 'dir', enc: 'A256GCM', cty: 'JWT', kid };
      this.#encryption = { kid, header, headerB64: base64url.encode(JSON.stringify(header)) };
    }

    const revocations = options.revocations;
    if (revocations !== undefined) {
      if (
        typeof revocations !== 'object' ||
        revocations === null ||
        typeof revocations.revokeToken !== 'function' ||
        typeof revocations.revokeUser !== 'function' ||
        typeof revocations.isRevoked !== 'function' ||
        typeof revocations.cleanupExpired !== 'function'
      ) {
        throw optionError(
          'revocations',
          'must implement RevocationStore (revokeToken, revokeUser, isRevoked, cleanupExpired)',
        );
      }
    }
    this.#revocations = revocations;
    this.#memoryRevocations = revocations instanceof MemoryRevocationStore ? revocations : undefined;
    this.#toleranceMs = durationOption(STORE, 'clockToleranceMs', options.clockToleranceMs, 0, { min: 0 });
    this.#maxTokenBytes = durationOption(STORE, 'maxTokenBytes', options.maxTokenBytes, DEFAULT_MAX_TOKEN_BYTES, {
      min: 256,
    });
    this.#verifiedMax = durationOption(STORE, 'verifyCacheSize', options.verifyCacheSize, DEFAULT_VERIFY_CACHE_SIZE, {
      min: 0,
      max: 1_000_000,
    });
    this.#verified = this.#verifiedMax > 0 ? new Map() : undefined;
    this.#deadlines = new OperationDeadlines(
      durationOption(STORE, 'operationTimeoutMs', options.operationTimeoutMs, DEFAULT_OPERATION_TIMEOUT_MS),
      STORE,
    );

    const revocable = revocations !== undefined;
    this.capabilities = Object.freeze({
      list: false,
      revoke: revocable,
      revokeUser: revocable,
      mutate: false,
      cleanup: revocable,
      customIds: false,
    });

    // WebCrypto imports are asynchronous; every key was checked above, so this only
    // turns them into CryptoKeys. Operations wait for it (once).
    this.#ready = prepare(checked, encryptionKey);
    this.#ready.then(
      (prepared) => {
        this.#prepared = prepared;
      },
      () => {}, // reported by the first operation (see #keys)
    );
    instrumentStore(this, STORE, options.telemetry);
  }

  /** The imported keys: at once after the first operation, else waits for the import. */
  async #keys(operation: string): Promise<Prepared> {
    try {
      return await this.#ready;
    } catch (error) {
      // A key that passed the constructor's checks but that Web Crypto refused: every
      // operation rejects INVALID naming its option.
      const field = error instanceof KeyImportError ? error.field : 'keys';
      throw new SessionError('INVALID', `option ${field} ${describeError(error)}`, {
        store: STORE,
        operation,
        field,
        cause: error instanceof KeyImportError ? (error.cause ?? error) : error,
      });
    }
  }

  // ---------------------------------------------------------------- create

  async create(input: SessionRecord): Promise<string> {
    try {
      return await this.#create(input);
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  async #create(input: SessionRecord): Promise<string> {
    const { record: r, now } = checkCallerRecord(this.#rules, input);
    const createdAt = r.createdAt.getTime();
    if (createdAt > now) {
      // The token's lifetime (and how long deleteByUser keeps a user's entry) rests on
      // createdAt <= the signing time: a session cannot start in the future.
      throw new SessionError(
        'INVALID',
        `record.createdAt must not be later than now (${new Date(now).toISOString()}): a session cannot start in the future`,
        { store: STORE, operation: 'create', field: 'record.createdAt' },
      );
    }
    const p = this.#prepared ?? (await this.#keys('create'));
    const expiresAt = r.expiresAt.getTime();
    const payload = `{${this.#claimsPrefix}"sub":${JSON.stringify(r.userId)},"tid":${JSON.stringify(r.tenantId)},"jti":"${generateSessionId()}","iat":${Math.floor(
      now / 1000,
    )},"exp":${Math.ceil(expiresAt / 1000)},"sat":${now},"cat":${createdAt},"eat":${expiresAt},"lat":${r.lastActivityAt.getTime()},"txn":${JSON.stringify(
      r.transactionId,
    )},"amr":${JSON.stringify(r.factorsUsed)},"aal":${r.assuranceLevel},"md":${JSON.stringify(r.metadata)}}`;
    const payloadBytes = utf8Encoder.encode(payload);
    // The token's length is known before any crypto: refuse oversized records first.
    const jwsLength = p.signingPrefixLength + b64len(payloadBytes.length) + 1 + SIGNATURE_CHARS[p.signing.alg];
    const enc = this.#encryption;
    const length = enc ? enc.headerB64.length + 2 + 16 + 1 + b64len(jwsLength) + 1 + 22 : jwsLength;
    if (length > this.#maxTokenBytes) {
      throw new SessionError(
        'INVALID',
        `record makes a ${length}-byte token, over maxTokenBytes (${this.#maxTokenBytes}); keep large data out of metadata (a cookie holds about 4 KB)`,
        { store: STORE, operation: 'create', field: 'record' },
      );
    }
    let jws = await new CompactSign(payloadBytes).setProtectedHeader(p.signingHeader).sign(p.signing.signKey);
    // WebCrypto's ECDSA gives either s; get accepts only the low one (one spelling per token).
    if (p.signing.alg === 'ES256') jws = withLowS(jws);
    if (enc === undefined) return jws;
    return await new CompactEncrypt(utf8Encoder.encode(jws)).setProtectedHeader(enc.header).encrypt(p.cek as CryptoKey);
  }

  // ---------------------------------------------------------------- get

  async get(id: string): Promise<SessionRecord | null> {
    try {
      this.#checkIdType('get', id);
      const claims = await this.#verify(id, 'get');
      if (claims === null) return null;
      const now = readClock(this.#rules);
      if (this.#revocations !== undefined && (await this.#isRevoked(claims.check, now))) return null;
      if (claims.check.expiresAt + this.#toleranceMs <= now) {
        this.#verified?.delete(id);
        throw expired(STORE, 'get');
      }
      return claims.record;
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  #checkIdType(operation: string, id: unknown): asserts id is string {
    if (typeof id !== 'string') {
      throw new SessionError('INVALID', `id must be a string (a token), got ${id === null ? 'null' : typeof id}`, {
        store: STORE,
        operation,
        field: 'id',
      });
    }
  }

  async #isRevoked(check: RevocationCheck, now: number): Promise<boolean> {
    const memory = this.#memoryRevocations;
    if (memory !== undefined) return memory.isRevokedSync(check, now);
    const revocations = this.#revocations as RevocationStore;
    return Boolean(await this.#call('get', () => revocations.isRevoked(check, now)));
  }

  /**
   * One call to the caller's RevocationStore, within operationTimeoutMs: whatever it
   * throws (synchronously too) or rejects with becomes STORAGE with the cause.
   */
  #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(call());
    } catch (error) {
      return Promise.reject(toStorageError(error, STORE, operation));
    }
    return this.#deadlines.wrap(operation, pending);
  }

  /**
   * Verifies a token (jose's compactDecrypt and compactVerify) and reads the record it
   * carries: `null` for anything that is not a valid token of this store (malformed,
   * tampered, foreign, wrong algorithm or key, wrong issuer or audience).
   */
  async #verify(token: string, operation: string): Promise<Claims | null> {
    if (token.length > this.#maxTokenBytes * 4 || token.length < 16) return null;
    const cache = this.#verified;
    if (cache !== undefined) {
      const hit = cache.get(token);
      if (hit !== undefined) {
        cache.delete(token); // now the most recently used
        cache.set(token, hit);
        return { record: cloneRecord(hit.record), check: hit.check };
      }
    }
    const p = this.#prepared ?? (await this.#keys(operation));
    try {
      let jws = token;
      if (this.#encryption !== undefined) {
        const inner = await this.#decrypt(this.#encryption, p, token);
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
      const claims = payload === undefined ? null : this.#readPayload(token, payload);
      // Only tokens no longer than maxTokenBytes: the cache stays within about
      // 2 x maxTokenBytes per entry (the token and its record).
      if (claims !== null && cache !== undefined && token.length <= this.#maxTokenBytes) {
        if (cache.size >= this.#verifiedMax) cache.delete(cache.keys().next().value as string);
        // The caller gets claims.record; the cache keeps its own copy.
        cache.set(token, { record: cloneRecord(claims.record), check: claims.check });
      }
      return claims;
    } catch {
      return null;
    }
  }

  /** The slow path: a header this store did not write itself (another kid, a JWKS key). */
  async #verifyOthers(p: Prepared, jws: string, tried: ResolvedKey | undefined): Promise<Uint8Array | undefined> {
    const header: Record<string, unknown> = decodeProtectedHeader(jws);
    const { alg, kid, typ } = header;
    // Only the configured algorithms; 'none' and anything else are never accepted.
    if (!isSupportedAlgorithm(alg) || !this.#algorithms.has(alg)) return undefined;
    // No extensions are understood: crit (and b64 from RFC 7797) make a token invalid
    // here, and keys named by the token itself (jwk, jku, x5u, x5c) are never used.
    for (const name of ['crit', 'b64', 'jwk', 'jku', 'x5u', 'x5c']) if (name in header) return undefined;
    if (typ !== undefined && (typeof typ !== 'string' || !/^(application\/)?jwt$/i.test(typ))) return undefined;
    if (kid !== undefined && typeof kid !== 'string') return undefined;
    // Keys configured for this algorithm: the one with this kid, or (no kid) any of them.
    for (const key of p.keys) {
      if (key === tried || key.alg !== alg || (kid !== undefined && key.kid !== kid)) continue;
      const payload = await verifyWith(jws, key);
      if (payload !== undefined) return payload;
    }
    if (this.#jwks !== undefined && !isHmac(alg) && (kid === undefined || !p.keys.some((k) => k.kid === kid))) {
      // jose picks the JWKS key by kid and key type, and checks it is one for alg.
      if (alg === 'ES256' && isHighS(jws.slice(jws.lastIndexOf('.') + 1))) return undefined;
      return (await compactVerify(jws, this.#jwks, VERIFY_OPTIONS[alg])).payload;
    }
    return undefined;
  }

  /** The signed token inside a JWE, or null when it is not one this store made. */
  async #decrypt(enc: EncryptionState, p: Prepared, token: string): Promise<string | null> {
    const parts = token.split('.');
    if (parts.length !== 5 || parts[1] !== '') return null; // 'dir': no encrypted key
    if (
      !isCanonicalB64(parts[2] as string) ||
      !isCanonicalB64(parts[3] as string) ||
      !isCanonicalB64(parts[4] as string)
    )
      return null;
    if (parts[0] !== enc.headerB64) {
      const header: Record<string, unknown> = decodeProtectedHeader(token);
      if (header.alg !== 'dir' || header.enc !== 'A256GCM' || 'crit' in header || 'zip' in header) return null;
      if (header.kid !== undefined && header.kid !== enc.kid) return null;
    }
    const { plaintext } = await compactDecrypt(token, p.cek as CryptoKey, DECRYPT_OPTIONS);
    return utf8Decoder.decode(plaintext);
  }

  /** Reads the record from a verified token's payload; null when it is not one of ours. */
  #readPayload(token: string, payload: Uint8Array): Claims | null {
    const p: unknown = JSON.parse(utf8Decoder.decode(payload));
    if (!isPlainObject(p)) return null;
    const { sub, tid, jti, txn, amr, aal, sat, cat, eat, lat, exp } = p;
    if (
      typeof sub !== 'string' ||
      typeof tid !== 'string' ||
      typeof jti !== 'string' ||
      jti === '' ||
      typeof txn !== 'string' ||
      !isStringArray(amr) ||
      typeof aal !== 'number' ||
      !Number.isInteger(aal) ||
      !isMs(sat) ||
      !isMs(cat) ||
      !isMs(eat) ||
      !isMs(lat) ||
      exp !== Math.ceil(eat / 1000) ||
      !('md' in p) ||
      // createdAt later than the signing time: no store issues that (create refuses a
      // future createdAt), and it would stretch the lifetime deleteByUser relies on.
      cat > sat
    ) {
      return null;
    }
    if (this.#issuer !== undefined && p.iss !== this.#issuer) return null;
    const audience = this.#audience;
    if (audience !== undefined) {
      const aud = p.aud;
      if (typeof aud === 'string') {
        if (!audience.has(aud)) return null;
      } else if (!isStringArray(aud) || !aud.some((a) => audience.has(a))) return null;
    }
    // With maxLifetimeMs, no token outlives createdAt + maxLifetimeMs, whoever signed it
    // (a store with a longer or no maxLifetimeMs, another service with the key): create
    // caps expiresAt there, and get caps what it reads the same way. So every token is
    // valid until at most signedAt + maxLifetimeMs, which is what a user revocation's
    // retention (deleteByUser's keepUntil) counts on.
    const max = this.#rules.maxLifetimeMs;
    const expiresAt = max === undefined ? eat : Math.min(eat, cat + max);
    return {
      record: {
        id: token,
        userId: sub,
        tenantId: tid as TenantId,
        transactionId: txn,
        factorsUsed: amr,
        assuranceLevel: aal,
        metadata: p.md as JsonValue,
        createdAt: new Date(cat),
        expiresAt: new Date(expiresAt),
        lastActivityAt: new Date(lat),
      },
      check: Object.freeze({ jti, tenantId: tid, userId: sub, signedAt: sat, expiresAt }),
    };
  }

  // ---------------------------------------------------------------- revocation

  async delete(id: string): Promise<void> {
    try {
      await this.#delete(id);
    } catch (error) {
      throw toStorageError(error, STORE, 'delete');
    }
  }

  async #delete(id: string): Promise<void> {
    this.#checkIdType('delete', id);
    const revocations = this.#revocations;
    if (revocations === undefined) {
      throw unsupported(
        STORE,
        'delete',
        'tokens are stateless without a revocation list; pass the revocations option (a RevocationStore such as MemoryRevocationStore), or let the token expire',
      );
    }
    const claims = await this.#verify(id, 'delete');
    if (claims === null) return; // not a token of this store: nothing to revoke
    const now = readClock(this.#rules);
    const { jti, expiresAt } = claims.check;
    const until = expiresAt + this.#toleranceMs; // get accepts the token until then
    const memory = this.#memoryRevocations;
    if (memory !== undefined) memory.revokeTokenSync(jti, until, now);
    else await this.#call('delete', () => revocations.revokeToken(jti, until, now));
  }

  /**
   * "Log out everywhere": denies every token of the user signed at or before now plus
   * `clockToleranceMs`, so a token signed just before by a store whose clock runs ahead
   * by up to the tolerance is denied too (and so is one this store signs within the
   * tolerance after). Resolves 0: stateless tokens cannot be counted.
   */
  async deleteByUser(userId: string, tenant: TenantId): Promise<number> {
    try {
      return await this.#deleteByUser(userId, tenant);
    } catch (error) {
      throw toStorageError(error, STORE, 'deleteByUser');
    }
  }

  async #deleteByUser(userId: string, tenant: TenantId): Promise<number> {
    const revocations = this.#revocations;
    if (revocations === undefined) {
      throw unsupported(
        STORE,
        'deleteByUser',
        'tokens are stateless without a revocation list; pass the revocations option (a RevocationStore such as MemoryRevocationStore)',
      );
    }
    checkUserArgs(this.#rules, 'deleteByUser', userId, tenant);
    const now = readClock(this.#rules);
    const tolerance = this.#toleranceMs;
    const revokedAt = now + tolerance;
    // A denied token was signed at or before revokedAt; its createdAt is not later than
    // that, so with maxLifetimeMs it expires by revokedAt + maxLifetimeMs (see
    // #readPayload), and get accepts it up to clockToleranceMs past its expiry.
    const max = this.#rules.maxLifetimeMs;
    const keepUntil = max === undefined ? undefined : revokedAt + max + tolerance;
    const memory = this.#memoryRevocations;
    if (memory !== undefined) memory.revokeUserSync(tenant, userId, revokedAt, keepUntil);
    else await this.#call('deleteByUser', () => revocations.revokeUser(tenant, userId, revokedAt, keepUntil));
    return 0; // stateless tokens cannot be counted
  }

  async cleanupExpired(): Promise<number> {
    try {
      return await this.#cleanupExpired();
    } catch (error) {
      throw toStorageError(error, STORE, 'cleanupExpired');
    }
  }

  async #cleanupExpired(): Promise<number> {
    const revocations = this.#revocations;
    if (revocations === undefined) return 0;
    const now = readClock(this.#rules);
    const memory = this.#memoryRevocations;
    if (memory !== undefined) return memory.cleanupExpiredSync(now);
    const removed = await this.#call('cleanupExpired', () => revocations.cleanupExpired(now));
    if (typeof removed !== 'number' || !Number.isInteger(removed) || removed < 0) {
      throw new SessionError('STORAGE', `revocations.cleanupExpired resolved ${String(removed)}, not a count`, {
        store: STORE,
        operation: 'cleanupExpired',
        cause: new TypeError('bad count'),
      });
    }
    return removed;
  }

  // ---------------------------------------------------------------- unsupported

  async update(_record: SessionRecord): Promise<void> {
    throw unsupported(STORE, 'update', UPDATE_HINT);
  }

  async extend(_id: string, _durationMs: number): Promise<void> {
    throw unsupported(STORE, 'extend', `${UPDATE_HINT}; to slide the expiry, create a token with the later expiresAt`);
  }

  async touch(_id: string): Promise<void> {
    throw unsupported(STORE, 'touch', `${UPDATE_HINT}; to record activity, create a token with the new lastActivityAt`);
  }

  async listByUser(_userId: string, _tenant: TenantId): Promise<SessionRecord[]> {
    throw unsupported(
      STORE,
      'listByUser',
      'a stateless store keeps no list of the tokens it issued; keep one yourself (or use a server-side store) if you need it',
    );
  }

  async close(): Promise<void> {
    // The revocation store belongs to the caller: stop the deadline timer, drop the cache.
    this.#deadlines.stop();
    this.#verified?.clear();
  }
}

/** The payload of `jws` when `key` verifies it (only with the key's own algorithm), else undefined. */
async function verifyWith(jws: string, key: ResolvedKey): Promise<Uint8Array | undefined> {
  if (key.alg === 'ES256' && isHighS(jws.slice(jws.lastIndexOf('.') + 1))) return undefined;
  try {
    return (await compactVerify(jws, key.verifyKey, VERIFY_OPTIONS[key.alg])).payload;
  } catch {
    return undefined; // a bad signature, or a token jose refuses
  }
}

/** Imports the checked keys for jose and works out the headers this store writes. */
async function prepare(
  checked: CheckedKey[],
  encryptionKey: ReturnType<typeof encryptionKeyBytes> | undefined,
): Promise<Prepared> {
  const keys = await Promise.all(checked.map(importKey));
  const knownHeaders = new Map<string, ResolvedKey>();
  const headers = keys.map((key) => {
    const header: CompactJWSHeaderParameters =
      key.kid === undefined ? { alg: key.alg, typ: 'JWT' } : { alg: key.alg, typ: 'JWT', kid: key.kid };
    // jose writes the protected header as base64url(JSON.stringify(header)): the same text.
    const b64 = base64url.encode(JSON.stringify(header));
    if (!knownHeaders.has(b64)) knownHeaders.set(b64, key);
    return { header, b64 };
  });
  const signing = keys[0] as ResolvedKey & { signKey: CryptoKey };
  const first = headers[0] as { header: CompactJWSHeaderParameters; b64: string };
  return {
    keys,
    signing,
    signingHeader: first.header,
    signingPrefixLength: first.b64.length + 1,
    knownHeaders,
    cek: encryptionKey === undefined ? undefined : await importEncryptionKey('encrypt.secret', encryptionKey),
  };
}
