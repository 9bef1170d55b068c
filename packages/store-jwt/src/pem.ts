// PEM keys: the PKCS#8 / SPKI framing and the DER walk that reads which algorithm a key
// is for (EC P-256 or Ed25519), checked synchronously in the constructor. The bytes are
// imported by Web Crypto later (key-import.ts).
import { describeError, invalidOption } from '@sessionkit/core';
import { STORE } from './constants.js';
import type { AsymmetricAlgorithm, KeyPart } from './key-types.js';

// DER object identifiers (contents bytes) of the key types accepted in PEM.
const OID_EC = '2a8648ce3d0201';
const OID_P256 = '2a8648ce3d030107';
const OID_ED25519 = '2b6570';

const PEM = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]+?)-----END \1-----\s*$/;

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

/**
 * Checks a PEM key option (`field`, in the `keys` entry `entry`): its label (PKCS#8
 * "PRIVATE KEY" or SPKI "PUBLIC KEY"), its base64 and DER, and its algorithm.
 */
export function fromPem(
  field: string,
  entry: string,
  pem: string,
  type: 'private' | 'public',
): { alg: AsymmetricAlgorithm; part: KeyPart } {
  const m = PEM.exec(pem);
  if (m === null) {
    throw invalidOption(STORE, field, 'is not a PEM key (-----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----)');
  }
  const label = m[1] as string;
  let form: 'pkcs8' | 'spki';
  if (label === 'PRIVATE KEY') form = 'pkcs8';
  else if (label === 'PUBLIC KEY') form = 'spki';
  else {
    throw invalidOption(
      STORE,
      field,
      `is a PEM "${label}"; give a PKCS#8 "PRIVATE KEY" or an SPKI "PUBLIC KEY" (openssl pkcs8 -topk8 -nocrypt converts one)`,
    );
  }
  if (type === 'private' && form === 'spki')
    throw invalidOption(STORE, field, 'must be a private key, got a public key');
  let bytes: Uint8Array;
  let alg: string;
  try {
    const text = atob((m[2] as string).replace(/\s+/g, ''));
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    alg = algorithmOfDer(bytes, form);
  } catch (error) {
    throw invalidOption(STORE, field, `is not a valid PEM key: ${describeError(error)}`, error);
  }
  if (alg !== 'ES256' && alg !== 'EdDSA') {
    throw invalidOption(
      STORE,
      entry,
      `has an unsupported key type (${alg}); use an EC P-256 key (ES256) or an Ed25519 key (EdDSA)`,
    );
  }
  return { alg, part: { field, type: form === 'pkcs8' ? 'private' : 'public', source: { form, der: bytes } } };
}
