// A session record as JWT claims and back: create's check of the caller's record, the
// payload create signs (the `iss`/`aud` prefix, then `sub`, `tid`, `jti`, the times in
// ms and whole seconds, and the record's other fields), and get's reading of a verified
// payload (claim types, `iss`, `aud`, and the `maxLifetimeMs` cap).
import {
  checkRecord,
  describeError,
  generateSessionId,
  invalidInput,
  type JsonValue,
  MAX_DATE_MS,
  type RecordRules,
  SessionError,
  type SessionRecord,
  type TenantId,
  type ValidRecord,
} from '@sessionkit/core';
import { STORE } from './constants.js';
import type { RevocationCheck } from './revocation.js';

/** What a verified token carries. */
export interface Claims {
  record: SessionRecord;
  check: RevocationCheck;
}

/** What get checks of a payload besides its shape. */
export interface ClaimRules {
  readonly issuer: string | undefined;
  readonly audience: ReadonlySet<string> | undefined;
  readonly maxLifetimeMs: number | undefined;
}

const utf8Decoder = new TextDecoder();

/** The claims every token of this store opens with: `"iss":…,"aud":…,` (or ''). */
export function claimsPrefix(issuer: string | undefined, audience: readonly string[] | undefined): string {
  let prefix = '';
  if (issuer !== undefined) prefix += `"iss":${JSON.stringify(issuer)},`;
  if (audience !== undefined) prefix += `"aud":${JSON.stringify(audience.length === 1 ? audience[0] : audience)},`;
  return prefix;
}

/**
 * Core's checks of a record for create, with a private copy of its metadata: each getter
 * is read once, so the token carries exactly the value that was checked and measured. A
 * record whose getters (or proxy) throw is INVALID naming `record`: the caller's value is
 * bad, and its own error never escapes.
 */
export function checkCallerRecord(rules: RecordRules, record: SessionRecord): ValidRecord {
  try {
    return checkRecord(rules, record, { operation: 'create', customIds: false, output: 'copy' });
  } catch (error) {
    if (SessionError.isInstance(error)) throw error;
    const problem = `could not be read (a getter or proxy threw): ${describeError(error)}`;
    throw invalidInput(STORE, 'create', 'record', problem, error);
  }
}

/**
 * The JSON payload of a checked record signed at `now`: `iat` is the signing time (floor)
 * and `exp` is rounded up to whole seconds for other readers; the store itself decides
 * with the ms claims (`sat`, `cat`, `eat`, `lat`).
 */
export function writePayload(prefix: string, record: SessionRecord, now: number): string {
  const expiresAt = record.expiresAt.getTime();
  return `{${prefix}"sub":${JSON.stringify(record.userId)},"tid":${JSON.stringify(record.tenantId)},"jti":"${generateSessionId()}","iat":${Math.floor(
    now / 1000,
  )},"exp":${Math.ceil(expiresAt / 1000)},"sat":${now},"cat":${record.createdAt.getTime()},"eat":${expiresAt},"lat":${record.lastActivityAt.getTime()},"txn":${JSON.stringify(
    record.transactionId,
  )},"amr":${JSON.stringify(record.factorsUsed)},"aal":${record.assuranceLevel},"md":${JSON.stringify(record.metadata)}}`;
}

/** True for an object that is not an array (a JSON object, an options object). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const v of value) if (typeof v !== 'string') return false;
  return true;
}

function isMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= MAX_DATE_MS;
}

/** Reads the record from a verified token's payload; null when it is not one of ours. */
export function readPayload(rules: ClaimRules, token: string, payload: Uint8Array): Claims | null {
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
  if (rules.issuer !== undefined && p.iss !== rules.issuer) return null;
  const audience = rules.audience;
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
  const max = rules.maxLifetimeMs;
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
