const ID_BYTES = 32;
const POOL_IDS = 128;
const ALPHABET: readonly string[] = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');

function c(sextet: number): string {
  return ALPHABET[sextet] as string;
}
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

/** Unpadded base64url of `bytes[start, end)`, without `Buffer` or `btoa`. */
export function base64url(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += c(n >>> 18) + c((n >>> 12) & 63) + c((n >>> 6) & 63) + c(n & 63);
  }
  if (end - i === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += c(n >>> 18) + c((n >>> 12) & 63) + c((n >>> 6) & 63);
  } else if (end - i === 1) {
    const n = (bytes[i] as number) << 16;
    out += c(n >>> 18) + c((n >>> 12) & 63);
  }
  return out;
}
