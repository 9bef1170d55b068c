// Tokens and handles without node:crypto or Buffer, so the manager runs wherever
// `globalThis.crypto` exists (Node >= 20, Deno, Bun, edge runtimes). Random bytes come from
// Web Crypto; the handle's SHA-256 from @noble/hashes, synchronously: Node runs
// `crypto.subtle.digest` on its thread pool, about 140 us a call, which made validate
// 25x slower than the store read it wraps.
import { sha256 } from '@noble/hashes/sha2.js';

/** Random bytes in a token: 256 bits. */
export const TOKEN_BYTES = 32;
/** Length of a token and of a handle in base64url (no padding). */
export const ENCODED_LENGTH = 43;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const encoder = new TextEncoder();

/** base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out +=
      ALPHABET.charAt(n >>> 18) +
      ALPHABET.charAt((n >>> 12) & 63) +
      ALPHABET.charAt((n >>> 6) & 63) +
      ALPHABET.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += ALPHABET.charAt(n >>> 18) + ALPHABET.charAt((n >>> 12) & 63);
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += ALPHABET.charAt(n >>> 18) + ALPHABET.charAt((n >>> 12) & 63) + ALPHABET.charAt((n >>> 6) & 63);
  }
  return out;
}

/** A new token: 256 bits from the platform's CSPRNG, base64url (43 characters). */
export function newToken(): string {
  const bytes = new Uint8Array(TOKEN_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  const token = base64url(bytes);
  bytes.fill(0);
  return token;
}

/** True for a string that could be a token this package issued (43 base64url characters). */
export function isTokenShaped(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}

/**
 * The public handle of a token: SHA-256 of its text, base64url. It is the store record's
 * id, so a copy of the backend holds only hashes, never a usable token.
 */
export function handleOf(token: string): string {
  return base64url(sha256(encoder.encode(token)));
}

/**
 * Compares two strings in time that depends only on their lengths, not on where they
 * differ. Use it for secrets (codes, tokens) an attacker may guess byte by byte.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
