// One spelling per token: the canonical base64url check (jose accepts padding and
// non-zero trailing bits) and ES256's low-s rule (ECDSA verifies (r, s) and (r, n - s)
// alike): create writes the low s, get accepts only that.
import { base64url } from 'jose';

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when a base64url segment is the one canonical spelling of its bytes: no padding,
 * no other alphabet, and the unused low bits of the last character zero. jose (like most
 * decoders) accepts the other spellings, which would let one signature or ciphertext be
 * written several ways; a token has exactly one spelling here.
 */
export function isCanonicalB64(segment: string): boolean {
  if (!B64URL.test(segment)) return false;
  const rem = segment.length % 4;
  if (rem === 1) return false;
  if (rem === 0) return true;
  const last = B64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
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
export function isHighS(signatureB64: string): boolean {
  const signature = decodeB64(signatureB64);
  return signature !== undefined && signature.length === 64 && sAboveHalfN(signature);
}

/** The compact ES256 JWS with its signature's s made low (n - s when s > n/2). */
export function withLowS(jws: string): string {
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
