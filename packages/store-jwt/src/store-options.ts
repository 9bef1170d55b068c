// Reading and checking every option of JwtSessionStore once, in the constructor:
// the common ones (core's record rules), the keys (signing-keys.ts), `jwks`, `issuer`,
// `audience`, `encrypt`, `revocations` and the numeric limits. Returns the resolved
// configuration the store and its parts are built from; a bad option throws `INVALID`
// naming it.
import {
  DEFAULT_OPERATION_TIMEOUT_MS,
  describeError,
  durationOption,
  invalidOption,
  type RecordRules,
  readCommonOptions,
  rejectUnknownOptions,
  timerOption,
} from '@sessionkit/core';
import { createLocalJWKSet } from 'jose';
import { claimsPrefix, isPlainObject } from './claims.js';
import { type Encryption, encryptionHeader } from './key-ring.js';
import {
  DEFAULT_ALGORITHM,
  DEFAULT_MAX_TOKEN_BYTES,
  DEFAULT_VERIFY_CACHE_SIZE,
  type JwtSessionStoreOptions,
  KNOWN_ENCRYPT_OPTIONS,
  KNOWN_OPTIONS,
  MAX_KID_LENGTH,
  MAX_VERIFY_CACHE_SIZE,
  MIN_MAX_TOKEN_BYTES,
  STORE,
} from './options.js';
import type { RevocationStore } from './revocation.js';
import {
  type CheckedKey,
  checkKey,
  type EncryptionSecret,
  encryptionKeyBytes,
  isHmac,
  type JwtAlgorithm,
} from './signing-keys.js';
import type { VerifierConfig } from './verify.js';

/** The options, checked and resolved. */
export interface StoreConfig extends VerifierConfig {
  readonly rules: RecordRules;
  /** Every key, checked (not yet imported); the first signs. */
  readonly keys: CheckedKey[];
  readonly encryptionSecret: EncryptionSecret | undefined;
  /** `"iss":…,"aud":…,` opening every payload, or ''. */
  readonly claimsPrefix: string;
  readonly revocations: RevocationStore | undefined;
  readonly clockToleranceMs: number;
  /** The deadline of each call to `revocations`. */
  readonly operationTimeoutMs: number;
}

/** `secret` or `keys` (exactly one), checked: the first key signs, every key verifies. */
function readKeys(options: JwtSessionStoreOptions): CheckedKey[] {
  const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
  if (!isHmac(algorithm)) {
    throw invalidOption(
      STORE,
      'algorithm',
      `must be 'HS256', 'HS384' or 'HS512' (the HMAC algorithm for secret), got ${String(algorithm)}`,
    );
  }
  if (options.secret !== undefined && options.keys !== undefined) {
    throw invalidOption(STORE, 'secret', 'and option keys cannot both be given: put the secret in keys');
  }
  if (options.secret !== undefined) return [checkKey('secret', { secret: options.secret }, algorithm, true, 'secret')];
  if (options.keys === undefined) {
    throw invalidOption(STORE, 'secret', 'or option keys is required (a secret of at least 32 bytes, or key pairs)');
  }
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw invalidOption(STORE, 'keys', 'must be a non-empty array; the first key signs, every key verifies');
  }
  const checked = options.keys.map((spec, i) => checkKey(`keys[${i}]`, spec, algorithm, i === 0));
  const kids = new Set<string>();
  for (const [i, key] of checked.entries()) {
    if (key.kid === undefined) continue;
    if (kids.has(key.kid)) throw invalidOption(STORE, `keys[${i}].kid`, `repeats kid ${JSON.stringify(key.kid)}`);
    kids.add(key.kid);
  }
  return checked;
}

/** `jwks`, loaded by jose (ES256 and EdDSA keys, picked by kid). */
function readJwks(jwks: unknown): ReturnType<typeof createLocalJWKSet> | undefined {
  if (jwks === undefined) return undefined;
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys)) {
    throw invalidOption(STORE, 'jwks', 'must be a JSON Web Key Set: { keys: [...] }');
  }
  try {
    return createLocalJWKSet(jwks as never);
  } catch (error) {
    throw invalidOption(STORE, 'jwks', `is not a valid JSON Web Key Set: ${describeError(error)}`, error);
  }
}

function readAudience(audience: unknown): string[] | undefined {
  if (audience === undefined) return undefined;
  const list = typeof audience === 'string' ? [audience] : audience;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && a !== '')) {
    throw invalidOption(STORE, 'audience', 'must be a non-empty string or a non-empty array of them');
  }
  return list;
}

/** `encrypt`: its secret's bytes and the JWE header its kid makes. */
function readEncryption(encrypt: unknown): { secret: EncryptionSecret; encryption: Encryption } | undefined {
  if (encrypt === undefined) return undefined;
  if (!isPlainObject(encrypt)) throw invalidOption(STORE, 'encrypt', 'must be an object like { secret }');
  rejectUnknownOptions(STORE, encrypt, KNOWN_ENCRYPT_OPTIONS, 'encrypt.');
  const secret = encryptionKeyBytes('encrypt.secret', encrypt.secret);
  const kid = encrypt.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)) {
    throw invalidOption(STORE, 'encrypt.kid', `must be a non-empty string of at most ${MAX_KID_LENGTH} characters`);
  }
  return { secret, encryption: encryptionHeader(kid) };
}

function readRevocations(revocations: unknown): RevocationStore | undefined {
  if (revocations === undefined) return undefined;
  const r = revocations as Partial<RevocationStore> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.revokeToken !== 'function' ||
    typeof r.revokeUser !== 'function' ||
    typeof r.isRevoked !== 'function' ||
    typeof r.cleanupExpired !== 'function'
  ) {
    throw invalidOption(
      STORE,
      'revocations',
      'must implement RevocationStore (revokeToken, revokeUser, isRevoked, cleanupExpired)',
    );
  }
  return r as RevocationStore;
}

/** Reads and checks every option, in a fixed order (the first bad one is named). */
export function readStoreOptions(options: JwtSessionStoreOptions): StoreConfig {
  // Not a server store: operationTimeoutMs bounds only the calls to `revocations`, and
  // is read below in today's order (checked whether or not revocations is given).
  const common = readCommonOptions(STORE, options, KNOWN_OPTIONS, {});
  const rules = common.rules; // readClock turns a clock that throws into STORAGE
  const keys = readKeys(options);
  const algorithms = new Set<JwtAlgorithm>(keys.map((k) => k.alg));
  const jwks = readJwks(options.jwks);
  if (jwks !== undefined) {
    algorithms.add('ES256');
    algorithms.add('EdDSA');
  }
  if (options.issuer !== undefined && (typeof options.issuer !== 'string' || options.issuer === '')) {
    throw invalidOption(STORE, 'issuer', 'must be a non-empty string');
  }
  const audience = readAudience(options.audience);
  const encrypt = readEncryption(options.encrypt);
  const revocations = readRevocations(options.revocations);
  const clockToleranceMs = durationOption(STORE, 'clockToleranceMs', options.clockToleranceMs, 0, { min: 0 });
  const maxTokenBytes = durationOption(STORE, 'maxTokenBytes', options.maxTokenBytes, DEFAULT_MAX_TOKEN_BYTES, {
    min: MIN_MAX_TOKEN_BYTES,
  });
  const verifyCacheSize = durationOption(STORE, 'verifyCacheSize', options.verifyCacheSize, DEFAULT_VERIFY_CACHE_SIZE, {
    min: 0,
    max: MAX_VERIFY_CACHE_SIZE,
  });
  const operationTimeoutMs = timerOption(
    STORE,
    'operationTimeoutMs',
    options.operationTimeoutMs,
    DEFAULT_OPERATION_TIMEOUT_MS,
  );
  return {
    rules,
    keys,
    algorithms,
    jwks,
    claims: {
      issuer: options.issuer,
      audience: audience === undefined ? undefined : new Set(audience),
      maxLifetimeMs: rules.maxLifetimeMs,
    },
    claimsPrefix: claimsPrefix(options.issuer, audience),
    encryptionSecret: encrypt?.secret,
    encryption: encrypt?.encryption,
    revocations,
    clockToleranceMs,
    maxTokenBytes,
    verifyCacheSize,
    operationTimeoutMs,
  };
}
