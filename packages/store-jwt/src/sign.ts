// Writing a token: its length, known from the payload's before any crypto (so create
// refuses an oversized record first), and the signing (jose's CompactSign with the
// current key, low s for ES256), then the encryption when `encrypt` is set (CompactEncrypt).
import { CompactEncrypt, CompactSign, type CryptoKey } from 'jose';
import { withLowS } from './canonical.js';
import type { Encryption, Prepared } from './key-ring.js';
import type { JwtAlgorithm } from './signing-keys.js';

/** base64url length of the signature of each algorithm. */
const SIGNATURE_CHARS: Record<JwtAlgorithm, number> = { HS256: 43, HS384: 64, HS512: 86, ES256: 86, EdDSA: 86 };
/** A JWE adds to its header: the empty encrypted key between two dots, the 16-character IV, two more dots, the 22-character tag. */
const JWE_OVERHEAD = 2 + 16 + 1 + 1 + 22;

const utf8Encoder = new TextEncoder();

function b64len(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/** The length in characters of the token a payload of `payloadBytes` bytes makes. */
export function tokenLength(keys: Prepared, encryption: Encryption | undefined, payloadBytes: number): number {
  const jwsLength = keys.signingPrefixLength + b64len(payloadBytes) + 1 + SIGNATURE_CHARS[keys.signing.alg];
  return encryption === undefined ? jwsLength : encryption.headerB64.length + JWE_OVERHEAD + b64len(jwsLength);
}

/** The token of a payload: signed with the current key, then encrypted when `encrypt` is set. */
export async function signToken(
  keys: Prepared,
  encryption: Encryption | undefined,
  payload: Uint8Array,
): Promise<string> {
  let jws = await new CompactSign(payload).setProtectedHeader(keys.signingHeader).sign(keys.signing.signKey);
  // WebCrypto's ECDSA gives either s; get accepts only the low one (one spelling per token).
  if (keys.signing.alg === 'ES256') jws = withLowS(jws);
  if (encryption === undefined) return jws;
  return new CompactEncrypt(utf8Encoder.encode(jws))
    .setProtectedHeader(encryption.header)
    .encrypt(keys.cek as CryptoKey);
}
