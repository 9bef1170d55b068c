// The stateless JWT store: the class and its public methods, reading like the contract.
// Its parts: the options (store-options.ts), the keys (signing-keys.ts, key-ring.ts), a
// record as claims (claims.ts), writing a token (sign.ts), reading one (verify.ts), and
// revocations (revocation.ts).
import {
  checkUserArgs,
  expired,
  guard,
  instrumentStore,
  invalidInput,
  type RecordRules,
  readClock,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TenantId,
  toStorageError,
  unsupported,
} from '@sessionkit/core';
import { checkCallerRecord, writePayload } from './claims.js';
import { type Encryption, KeyRing } from './key-ring.js';
import { type JwtSessionStoreOptions, STORE } from './options.js';
import { RevocationCalls } from './revocation.js';
import { signToken, tokenLength } from './sign.js';
import { readStoreOptions } from './store-options.js';
import { TokenVerifier } from './verify.js';

const UPDATE_HINT =
  'a JWT session cannot change after it is issued; issue a new token with create (and delete the old one)';
const STATELESS_HINT =
  'tokens are stateless without a revocation list; pass the revocations option (a RevocationStore such as MemoryRevocationStore)';

const utf8Encoder = new TextEncoder();

/** INVALID unless `id` is a string (any string is a token to try; a wrong one reads null). */
function checkIdType(operation: string, id: unknown): asserts id is string {
  if (typeof id !== 'string') {
    throw invalidInput(STORE, operation, 'id', `must be a string (a token), got ${id === null ? 'null' : typeof id}`);
  }
}

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
  readonly #keys: KeyRing;
  readonly #verifier: TokenVerifier;
  readonly #encryption: Encryption | undefined;
  readonly #claimsPrefix: string;
  readonly #revocations: RevocationCalls | undefined;
  readonly #toleranceMs: number;
  readonly #maxTokenBytes: number;

  constructor(options: JwtSessionStoreOptions) {
    const config = readStoreOptions(options);
    this.#rules = config.rules;
    // Web Crypto imports are asynchronous: started here, awaited by the first operation.
    this.#keys = new KeyRing(config.keys, config.encryptionSecret);
    this.#verifier = new TokenVerifier(config);
    this.#encryption = config.encryption;
    this.#claimsPrefix = config.claimsPrefix;
    const revocable = config.revocations !== undefined;
    this.#revocations = revocable ? new RevocationCalls(config.revocations, config.operationTimeoutMs) : undefined;
    this.#toleranceMs = config.clockToleranceMs;
    this.#maxTokenBytes = config.maxTokenBytes;
    this.capabilities = Object.freeze({
      list: false,
      revoke: revocable,
      revokeUser: revocable,
      mutate: false,
      cleanup: revocable,
      customIds: false,
    });
    instrumentStore(this, STORE, options.telemetry);
  }

  /** Signs the record into a token (the session's id): `record.id` must be empty. */
  async create(record: SessionRecord): Promise<string> {
    try {
      const { record: checked, now } = checkCallerRecord(this.#rules, record);
      const keys = this.#keys.prepared ?? (await this.#keys.load('create'));
      const payload = utf8Encoder.encode(writePayload(this.#claimsPrefix, checked, now));
      const length = tokenLength(keys, this.#encryption, payload.length);
      if (length > this.#maxTokenBytes) {
        throw invalidInput(
          STORE,
          'create',
          'record',
          `makes a ${length}-byte token, over maxTokenBytes (${this.#maxTokenBytes}); keep large data out of metadata (a cookie holds about 4 KB)`,
        );
      }
      return await signToken(keys, this.#encryption, payload);
    } catch (error) {
      throw toStorageError(error, STORE, 'create');
    }
  }

  /** The record a valid token carries; null for a tampered, foreign or revoked one. */
  async get(id: string): Promise<SessionRecord | null> {
    try {
      checkIdType('get', id);
      const claims = await this.#verifier.verify(id, this.#keys, 'get');
      if (claims === null) return null;
      const now = readClock(this.#rules);
      if (this.#revocations !== undefined && (await this.#revocations.isRevoked(claims.check, now))) return null;
      if (claims.check.expiresAt + this.#toleranceMs <= now) {
        this.#verifier.forget(id);
        throw expired(STORE, 'get');
      }
      return claims.record;
    } catch (error) {
      throw toStorageError(error, STORE, 'get');
    }
  }

  /** Denies the token until it expires; a string that is not a token of this store is ignored. */
  delete(id: string): Promise<void> {
    return guard(STORE, 'delete', async () => {
      checkIdType('delete', id);
      const revocations = this.#revocations;
      if (revocations === undefined) throw unsupported(STORE, 'delete', `${STATELESS_HINT}, or let the token expire`);
      const claims = await this.#verifier.verify(id, this.#keys, 'delete');
      if (claims === null) return; // not a token of this store: nothing to revoke
      const now = readClock(this.#rules);
      const { jti, expiresAt } = claims.check;
      await revocations.revokeToken(jti, expiresAt + this.#toleranceMs, now); // get accepts it until then
    });
  }

  /**
   * "Log out everywhere": denies every token of the user signed at or before now plus
   * `clockToleranceMs`, so a token signed just before by a store whose clock runs ahead
   * by up to the tolerance is denied too (and so is one this store signs within the
   * tolerance after). Resolves 0: stateless tokens cannot be counted.
   */
  deleteByUser(userId: string, tenantId: TenantId): Promise<number> {
    return guard(STORE, 'deleteByUser', async () => {
      const revocations = this.#revocations;
      if (revocations === undefined) throw unsupported(STORE, 'deleteByUser', STATELESS_HINT);
      checkUserArgs(this.#rules, 'deleteByUser', userId, tenantId);
      const now = readClock(this.#rules);
      const tolerance = this.#toleranceMs;
      const revokedAt = now + tolerance;
      // A denied token was signed at or before revokedAt; its createdAt is not later than
      // that, so with maxLifetimeMs it expires by revokedAt + maxLifetimeMs (see
      // readPayload), and get accepts it up to clockToleranceMs past its expiry.
      const max = this.#rules.maxLifetimeMs;
      const keepUntil = max === undefined ? undefined : revokedAt + max + tolerance;
      await revocations.revokeUser(tenantId, userId, revokedAt, keepUntil);
      return 0; // stateless tokens cannot be counted
    });
  }

  /** Drops revocations of expired tokens; resolves 0 without `revocations`. */
  cleanupExpired(): Promise<number> {
    return guard(STORE, 'cleanupExpired', async () => {
      const revocations = this.#revocations;
      if (revocations === undefined) return 0;
      return revocations.cleanupExpired(readClock(this.#rules));
    });
  }

  async update(_record: SessionRecord): Promise<void> {
    throw unsupported(STORE, 'update', UPDATE_HINT);
  }

  async extend(_id: string, _durationMs: number): Promise<void> {
    throw unsupported(STORE, 'extend', `${UPDATE_HINT}; to slide the expiry, create a token with the later expiresAt`);
  }

  async touch(_id: string): Promise<void> {
    throw unsupported(STORE, 'touch', `${UPDATE_HINT}; to record activity, create a token with the new lastActivityAt`);
  }

  async listByUser(_userId: string, _tenantId: TenantId): Promise<SessionRecord[]> {
    throw unsupported(
      STORE,
      'listByUser',
      'a stateless store keeps no list of the tokens it issued; keep one yourself (or use a server-side store) if you need it',
    );
  }

  /** Stops the deadline timer and empties the verify cache; the revocation store belongs to the caller. */
  async close(): Promise<void> {
    this.#revocations?.close();
    this.#verifier.clear();
  }
}
