const ID_BYTES = 32;
const POOL_IDS = 128;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const decoder = new TextDecoder();
let scratch = new Uint8Array(64);
let pool = new Uint8Array(0);
let offset = 0;

/**
 * A new session id: 256 bits from the platform's CSPRNG (Web Crypto's
 * `crypto.getRandomValues`, on Node, Bun, Deno, Workers and edge runtimes alike),
 * base64url-encoded (43 characters, alphabet `A-Z a-z 0-9 - _`). Bytes are drawn in
 * pooled batches, and every byte is used once.
 */
export function generateSessionId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(ID_BYTES * POOL_IDS));
    offset = 0;
  }
  const id = base64url(pool, offset, offset + ID_BYTES);
  // Wipe the used bytes so no copy of an issued id lingers in the pool.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

/**
 * Unpadded base64url of `bytes[start, end)`, without `Buffer` or `btoa`: the characters
 * are written as ASCII codes and decoded once, so the result is one flat string (about
 * 2x faster than concatenating characters, and no rope to flatten when it is hashed).
 */
export function base64url(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const length = Math.ceil(((end - start) * 4) / 3);
  if (scratch.length < length) scratch = new Uint8Array(length);
  const out = scratch;
  const b = bytes;
  const code = CODES;
  let j = 0;
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) | (b[i + 2] as number);
    out[j++] = code[n >>> 18] as number;
    out[j++] = code[(n >>> 12) & 63] as number;
    out[j++] = code[(n >>> 6) & 63] as number;
    out[j++] = code[n & 63] as number;
  }
  if (end - i === 2) {
    const n = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8);
    out[j++] = code[n >>> 18] as number;
    out[j++] = code[(n >>> 12) & 63] as number;
    out[j++] = code[(n >>> 6) & 63] as number;
  } else if (end - i === 1) {
    const n = (b[i] as number) << 16;
    out[j++] = code[n >>> 18] as number;
    out[j++] = code[(n >>> 12) & 63] as number;
  }
  return decoder.decode(out.subarray(0, j));
}
