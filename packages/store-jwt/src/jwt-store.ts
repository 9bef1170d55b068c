import { createCipheriv, createDecipheriv, KeyObject, randomFillSync, type webcrypto } from 'node:crypto';
import {
  assertOptionsObject,
  checkRecord,
  checkUserArgs,
  DEFAULT_OPERATION_TIMEOUT_MS,
  durationOption,
  expired,
  generateSessionId,
  type JsonValue,
  type RecordRules,
  readClock,
  resolveRecordRules,
  SessionError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
  unsupported,
  withTimeout,
} from '@sessionkit/core';
import { createLocalJWKSet, type JWTHeaderParameters } from 'jose';
import {
  algorithmOfKey,
  encryptionKey,
  enter,
  isHmac,
  isSupportedAlgorithm,
  type JwtAlgorithm,
  leave,
  type ResolvedKey,
  resolveKey,
  signInput,
  verifyInput,
} from './keys.js';
import type { JwtSessionStoreOptions } from './options.js';
import { MemoryRevocationStore, type RevocationCheck, type RevocationStore } from './revocation.js';

const STORE = 'jwt';
/** Default `maxTokenBytes`: what fits in a cookie. */
export const DEFAULT_MAX_TOKEN_BYTES = 4096;

/** base64url length of the signature of each algorithm. */
const SIGNATURE_CHARS: Record<JwtAlgorithm, number> = { HS256: 43, HS384: 64, HS512: 86, ES256: 86, EdDSA: 86 };
const B64URL = /^[A-Za-z0-9_-]*$/;

/** What a verified token carries. */
interface Claims {
  record: SessionRecord;
  check: RevocationCheck;
}

interface EncryptionState {
  key: Buffer;
  kid: string | undefined;
  headerB64: string;
}

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

/** Decodes a base64url segment, refusing anything but its one canonical spelling. */
function strictB64(segment: string): Buffer | null {
  if (!B64URL.test(segment) || segment.length % 4 === 1) return null;
  const bytes = Buffer.from(segment, 'base64url');
  if (b64len(bytes.length) !== segment.length) return null;
  // Unused low bits of the last character must be zero (one spelling per byte string).
  const rem = bytes.length % 3;
  if (rem !== 0 && bytes.toString('base64url') !== segment) return null;
  return bytes;
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
  readonly #signing: ResolvedKey;
  readonly #signingPrefix: string; // base64url header + '.'
  readonly #keys: ResolvedKey[];
  /** Exact header segments this store writes, mapped to the key that made them. */
  readonly #knownHeaders = new Map<string, ResolvedKey>();
  readonly #algorithms: ReadonlySet<JwtAlgorithm>;
  readonly #jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  readonly #jwksKeys = new WeakMap<object, ResolvedKey>();
  readonly #issuer: string | undefined;
  readonly #audience: ReadonlySet<string> | undefined;
  readonly #claimsPrefix: string; // `"iss":…,"aud":…,` or ''
  readonly #encryption: EncryptionState | undefined;
  readonly #revocations: RevocationStore | undefined;
  readonly #memoryRevocations: MemoryRevocationStore | undefined;
  readonly #toleranceMs: number;
  readonly #maxTokenBytes: number;
  readonly #timeoutMs: number;

  constructor(options: JwtSessionStoreOptions) {
    assertOptionsObject(STORE, options as unknown);
    this.#rules = resolveRecordRules(STORE, options);

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
    if (options.secret !== undefined) {
      this.#keys = [resolveKey('secret', { secret: options.secret }, algorithm, true)];
    } else if (options.keys !== undefined) {
      if (!Array.isArray(options.keys) || options.keys.length === 0) {
        throw optionError('keys', 'must be a non-empty array; the first key signs, every key verifies');
      }
      this.#keys = options.keys.map((spec, i) => resolveKey(`keys[${i}]`, spec, algorithm, i === 0));
      const kids = new Set<string>();
      for (const [i, key] of this.#keys.entries()) {
        if (key.kid === undefined) continue;
        if (kids.has(key.kid)) throw optionError(`keys[${i}].kid`, `repeats kid ${JSON.stringify(key.kid)}`);
        kids.add(key.kid);
      }
    } else {
      throw optionError('secret', 'or option keys is required (a secret of at least 32 bytes, or key pairs)');
    }
    this.#signing = this.#keys[0] as ResolvedKey;
    for (const key of this.#keys) {
      const header = Buffer.from(
        key.kid === undefined
          ? `{"alg":"${key.alg}","typ":"JWT"}`
          : `{"alg":"${key.alg}","typ":"JWT","kid":${JSON.stringify(key.kid)}}`,
      ).toString('base64url');
      if (!this.#knownHeaders.has(header)) this.#knownHeaders.set(header, key);
    }
    this.#signingPrefix = `${[...this.#knownHeaders.entries()].find(([, k]) => k === this.#signing)?.[0]}.`;

    const algorithms = new Set<JwtAlgorithm>(this.#keys.map((k) => k.alg));
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

    if (options.encrypt !== undefined) {
      if (!isPlainObject(options.encrypt)) throw optionError('encrypt', 'must be an object like { secret }');
      const key = encryptionKey('encrypt.secret', options.encrypt.secret);
      const kid = options.encrypt.kid;
      if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > 256)) {
        throw optionError('encrypt.kid', 'must be a non-empty string of at most 256 characters');
      }
      const header =
        kid === undefined
          ? '{"alg":"dir","enc":"A256GCM","cty":"JWT"}'
          : `{"alg":"dir","enc":"A256GCM","cty":"JWT","kid":${JSON.stringify(kid)}}`;
      this.#encryption = { key, kid, headerB64: Buffer.from(header).toString('base64url') };
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
    this.#timeoutMs = durationOption(
      STORE,
      'operationTimeoutMs',
      options.operationTimeoutMs,
      DEFAULT_OPERATION_TIMEOUT_MS,
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
  }

  // ---------------------------------------------------------------- create

  async create(input: SessionRecord): Promise<string> {
    enter();
    try {
      return await this.#create(input);
    } finally {
      leave();
    }
  }

  async #create(input: SessionRecord): Promise<string> {
    const { record, now } = checkRecord(this.#rules, input, { operation: 'create', customIds: false });
    const r = record;
    const expiresAt = r.expiresAt.getTime();
    const payload = `{${this.#claimsPrefix}"sub":${JSON.stringify(r.userId)},"tid":${JSON.stringify(r.tenantId)},"jti":"${generateSessionId()}","iat":${Math.floor(
      now / 1000,
    )},"exp":${Math.ceil(expiresAt / 1000)},"sat":${now},"cat":${r.createdAt.getTime()},"eat":${expiresAt},"lat":${r.lastActivityAt.getTime()},"txn":${JSON.stringify(
      r.transactionId,
    )},"amr":${JSON.stringify(r.factorsUsed)},"aal":${r.assuranceLevel},"md":${JSON.stringify(r.metadata)}}`;
    const payloadBytes = Buffer.from(payload, 'utf8');
    // The token's length is known before any crypto: refuse oversized records first.
    const jwsLength = this.#signingPrefix.length + b64len(payloadBytes.length) + 1 + SIGNATURE_CHARS[this.#signing.alg];
    const enc = this.#encryption;
    const length = enc ? enc.headerB64.length + 2 + 16 + 1 + b64len(jwsLength) + 1 + 22 : jwsLength;
    if (length > this.#maxTokenBytes) {
      throw new SessionError(
        'INVALID',
        `record makes a ${length}-byte token, over maxTokenBytes (${this.#maxTokenBytes}); keep large data out of metadata (a cookie holds about 4 KB)`,
        { store: STORE, operation: 'create', field: 'record' },
      );
    }
    const signingInput = this.#signingPrefix + payloadBytes.toString('base64url');
    let signature: string;
    try {
      const s = signInput(this.#signing, signingInput);
      signature = typeof s === 'string' ? s : await s;
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
    const jws = `${signingInput}.${signature}`;
    return enc ? this.#encrypt(enc, jws) : jws;
  }

  #encrypt(enc: EncryptionState, plaintext: string): string {
    const iv = randomFillSync(Buffer.allocUnsafe(12));
    const cipher = createCipheriv('aes-256-gcm', enc.key, iv);
    cipher.setAAD(Buffer.from(enc.headerB64, 'latin1'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'latin1'), cipher.final()]);
    return `${enc.headerB64}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher
      .getAuthTag()
      .toString('base64url')}`;
  }

  // ---------------------------------------------------------------- get

  async get(id: string): Promise<SessionRecord | null> {
    this.#checkIdType('get', id);
    enter();
    try {
      const v = this.#verify(id);
      const claims = v === null || !('then' in v) ? v : await v;
      if (claims === null) return null;
      const now = readClock(this.#rules);
      if (this.#revocations !== undefined && (await this.#isRevoked(claims.check, now))) return null;
      if (claims.check.expiresAt + this.#toleranceMs <= now) throw expired(STORE, 'get');
      return claims.record;
    } finally {
      leave();
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
    return withTimeout((this.#revocations as RevocationStore).isRevoked(check, now), this.#timeoutMs, STORE, 'get');
  }

  /**
   * Verifies a token and reads the record it carries: `null` for anything that is not a
   * valid token of this store (malformed, tampered, foreign, wrong algorithm or key,
   * wrong issuer or audience). Never throws.
   */
  #verify(token: string): Claims | null | Promise<Claims | null> {
    if (token.length > this.#maxTokenBytes * 4 || token.length < 16) return null;
    try {
      let jws = token;
      if (this.#encryption !== undefined) {
        const inner = this.#decrypt(this.#encryption, token);
        if (inner === null) return null;
        jws = inner;
      }
      const first = jws.indexOf('.');
      const last = jws.lastIndexOf('.');
      if (first <= 0 || last === first || jws.indexOf('.', first + 1) !== last) return null;
      const headerB64 = jws.slice(0, first);
      const signature = strictB64(jws.slice(last + 1));
      if (signature === null) return null;
      const input = jws.slice(0, last);
      const known = this.#knownHeaders.get(headerB64);
      if (known !== undefined) {
        const ok = verifyInput(known, input, signature);
        if (ok === true) return this.#readPayload(token, jws, first, last);
        if (ok === false) return this.#verifyOthers(token, jws, headerB64, input, signature, first, last, known);
        return ok
          .then(
            (yes) =>
              yes
                ? this.#readPayload(token, jws, first, last)
                : this.#verifyOthers(token, jws, headerB64, input, signature, first, last, known),
            () => null,
          )
          .catch(() => null);
      }
      return this.#verifyOthers(token, jws, headerB64, input, signature, first, last, undefined);
    } catch {
      return null;
    }
  }

  /** The slow path: a header this store did not write itself (another kid, a JWKS key). */
  async #verifyOthers(
    token: string,
    jws: string,
    headerB64: string,
    input: string,
    signature: Buffer,
    first: number,
    last: number,
    tried: ResolvedKey | undefined,
  ): Promise<Claims | null> {
    try {
      const headerBytes = strictB64(headerB64);
      if (headerBytes === null) return null;
      const header: unknown = JSON.parse(headerBytes.toString('utf8'));
      if (!isPlainObject(header)) return null;
      const { alg, kid, typ } = header;
      // Only the configured algorithms; 'none' and anything else are never accepted.
      if (!isSupportedAlgorithm(alg) || !this.#algorithms.has(alg)) return null;
      // No extensions are understood: crit (and b64 from RFC 7797) make a token invalid here.
      if ('crit' in header || 'b64' in header || 'jwk' in header || 'jku' in header || 'x5u' in header) return null;
      if (typ !== undefined && (typeof typ !== 'string' || !/^(application\/)?jwt$/i.test(typ))) return null;
      if (kid !== undefined && typeof kid !== 'string') return null;
      // Keys configured for this algorithm: the one with this kid, or (no kid) any of them.
      const candidates = this.#keys.filter((k) => k !== tried && k.alg === alg && (kid === undefined || k.kid === kid));
      for (const key of candidates) {
        if (await verifyInput(key, input, signature)) return this.#readPayload(token, jws, first, last);
      }
      if (this.#jwks !== undefined && !isHmac(alg) && (kid === undefined || !this.#keys.some((k) => k.kid === kid))) {
        const key = await this.#jwksKey(alg, kid);
        if (key !== undefined && (await verifyInput(key, input, signature)))
          return this.#readPayload(token, jws, first, last);
      }
      return null;
    } catch {
      return null;
    }
  }

  async #jwksKey(alg: JwtAlgorithm, kid: string | undefined): Promise<ResolvedKey | undefined> {
    const header: JWTHeaderParameters = kid === undefined ? { alg } : { alg, kid };
    let cryptoKey: object;
    try {
      cryptoKey = await (this.#jwks as ReturnType<typeof createLocalJWKSet>)(header);
    } catch {
      return undefined; // no (single) matching key
    }
    let key = this.#jwksKeys.get(cryptoKey);
    if (key === undefined) {
      const keyObject = KeyObject.from(cryptoKey as webcrypto.CryptoKey);
      // Defence in depth: the key must really be of the algorithm in the header.
      if (keyObject.type !== 'public' || algorithmOfKey(keyObject) !== alg) return undefined;
      key = { alg, kid, signKey: undefined, verifyKey: keyObject };
      this.#jwksKeys.set(cryptoKey, key);
    }
    return key;
  }

  #decrypt(enc: EncryptionState, token: string): string | null {
    const parts = token.split('.');
    if (parts.length !== 5) return null;
    const [headerB64, encryptedKey, ivB64, ciphertextB64, tagB64] = parts as [string, string, string, string, string];
    if (encryptedKey !== '') return null; // 'dir': no encrypted key
    if (headerB64 !== enc.headerB64) {
      const bytes = strictB64(headerB64);
      if (bytes === null) return null;
      const header: unknown = JSON.parse(bytes.toString('utf8'));
      if (!isPlainObject(header) || header.alg !== 'dir' || header.enc !== 'A256GCM') return null;
      if ('crit' in header || 'zip' in header) return null;
      if (header.kid !== undefined && header.kid !== enc.kid) return null;
    }
    const iv = strictB64(ivB64);
    const tag = strictB64(tagB64);
    const ciphertext = strictB64(ciphertextB64);
    if (iv === null || tag === null || ciphertext === null || iv.length !== 12 || tag.length !== 16) return null;
    const decipher = createDecipheriv('aes-256-gcm', enc.key, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(headerB64, 'latin1'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('latin1');
    } catch {
      return null; // wrong key or tampered
    }
  }

  /** Reads the record from a verified token's payload; null when it is not one of ours. */
  #readPayload(token: string, jws: string, first: number, last: number): Claims | null {
    // The signature covers these exact characters, so no canonical-spelling check is needed here.
    const p: unknown = JSON.parse(Buffer.from(jws.slice(first + 1, last), 'base64url').toString('utf8'));
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
      !('md' in p)
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
        expiresAt: new Date(eat),
        lastActivityAt: new Date(lat),
      },
      check: { jti, tenantId: tid, userId: sub, signedAt: sat, expiresAt: eat },
    };
  }

  // ---------------------------------------------------------------- revocation

  async delete(id: string): Promise<void> {
    this.#checkIdType('delete', id);
    const revocations = this.#revocations;
    if (revocations === undefined) {
      throw unsupported(
        STORE,
        'delete',
        'tokens are stateless without a revocation list; pass the revocations option (a RevocationStore such as MemoryRevocationStore), or let the token expire',
      );
    }
    enter();
    let claims: Claims | null;
    try {
      const v = this.#verify(id);
      claims = v === null || !('then' in v) ? v : await v;
    } finally {
      leave();
    }
    if (claims === null) return; // not a token of this store: nothing to revoke
    const now = readClock(this.#rules);
    const memory = this.#memoryRevocations;
    if (memory !== undefined) {
      memory.revokeTokenSync(claims.check.jti, claims.check.expiresAt + this.#toleranceMs, now);
      return;
    }
    await withTimeout(
      revocations.revokeToken(claims.check.jti, claims.check.expiresAt + this.#toleranceMs, now),
      this.#timeoutMs,
      STORE,
      'delete',
    );
  }

  async deleteByUser(userId: string, tenant: TenantId): Promise<number> {
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
    const max = this.#rules.maxLifetimeMs;
    const keepUntil = max === undefined ? undefined : now + max + this.#toleranceMs;
    const memory = this.#memoryRevocations;
    if (memory !== undefined) memory.revokeUserSync(tenant, userId, now, keepUntil);
    else
      await withTimeout(revocations.revokeUser(tenant, userId, now, keepUntil), this.#timeoutMs, STORE, 'deleteByUser');
    return 0; // stateless tokens cannot be counted
  }

  async cleanupExpired(): Promise<number> {
    const revocations = this.#revocations;
    if (revocations === undefined) return 0;
    const now = readClock(this.#rules);
    const memory = this.#memoryRevocations;
    if (memory !== undefined) return memory.cleanupExpiredSync(now);
    const removed = await withTimeout(revocations.cleanupExpired(now), this.#timeoutMs, STORE, 'cleanupExpired');
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
    // Nothing to release: no timers, and the revocation store belongs to the caller.
  }
}
