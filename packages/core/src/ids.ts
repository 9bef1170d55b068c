import { randomFillSync } from 'node:crypto';

const ID_BYTES = 32;
const POOL_IDS = 128;
let pool = Buffer.allocUnsafe(0);
let offset = 0;

/**
 * A new session id: 256 bits from the operating system's CSPRNG, base64url-encoded
 * (43 characters, alphabet `A-Z a-z 0-9 - _`). Bytes are drawn in pooled batches, and
 * every byte is used once.
 */
export function generateSessionId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(ID_BYTES * POOL_IDS));
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  // Wipe the used bytes so no copy of an issued id lingers in the pool.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
