// The memcached binary protocol on the wire: request encoding, response parsing, the
// opcodes and statuses the store uses, and the item a GET returns. No sockets here
// (see server-socket.ts and connection.ts).

/** A parsed binary-protocol response. */
export interface RawResponse {
  header: {
    opcode: number;
    status: number;
    totalBodyLength: number;
    opaque: number;
    cas: Buffer;
  };
  key: Buffer;
  extras: Buffer;
  val: Buffer;
}

/** The bytes of a request or response header. */
export const HEADER_BYTES = 24;
/** The first byte of every response. */
export const RESPONSE_MAGIC = 0x81;
/** At most this many bytes of one response are buffered (memcached's item limit is 1 MB by default, 1 GB at most). */
export const MAX_RESPONSE_BYTES = 1024 * 1024 * 1024 + 1024;

export const OP = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  DELETE: 0x04,
  NOOP: 0x0a,
  GETKQ: 0x0d,
  SASL_LIST: 0x20,
  SASL_AUTH: 0x21,
} as const;

export const STATUS = {
  OK: 0x00,
  NOT_FOUND: 0x01,
  EXISTS: 0x02,
  NOT_STORED: 0x05,
} as const;

const STATUS_TEXT: Record<number, string> = {
  1: 'key not found',
  2: 'key exists',
  3: 'value too large for the server (item size limit)',
  4: 'invalid arguments',
  5: 'item not stored',
  6: 'incr/decr on non-numeric value',
  129: 'unknown command',
  130: 'out of memory',
  131: 'not supported',
  132: 'internal error',
  133: 'busy',
  134: 'temporary failure',
};

/** A server's answer other than the ones a command expects (the status, in words). */
export class MemcachedStatusError extends Error {
  readonly status: number;
  constructor(command: string, status: number, server: { host: string; port: number }) {
    super(`${command} on ${server.host}:${server.port}: ${STATUS_TEXT[status] ?? `status 0x${status.toString(16)}`}`);
    this.name = 'MemcachedStatusError';
    this.status = status;
  }
}

const ZERO_CAS = Buffer.alloc(8);

/** Builds one binary-protocol request (key ASCII, value UTF-8). */
export function encodeRequest(
  opcode: number,
  opaque: number,
  key: string,
  extras: Buffer | null,
  value: string | null,
  cas: Buffer | null,
): Buffer {
  const keyLength = key.length; // keys are ASCII (see keys.ts)
  const extrasLength = extras === null ? 0 : extras.length;
  const valueLength = value === null ? 0 : Buffer.byteLength(value, 'utf8');
  const body = keyLength + extrasLength + valueLength;
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body);
  buf[0] = 0x80;
  buf[1] = opcode;
  buf.writeUInt16BE(keyLength, 2);
  buf[4] = extrasLength;
  buf[5] = 0;
  buf.writeUInt16BE(0, 6);
  buf.writeUInt32BE(body, 8);
  buf.writeUInt32BE(opaque >>> 0, 12);
  (cas ?? ZERO_CAS).copy(buf, 16, 0, 8);
  let at = HEADER_BYTES;
  if (extras !== null) {
    extras.copy(buf, at);
    at += extrasLength;
  }
  buf.write(key, at, keyLength, 'latin1');
  at += keyLength;
  if (value !== null) buf.write(value, at, valueLength, 'utf8');
  return buf;
}

/** The 8-byte extras of set/add: the item's 32-bit flags and the expiration field. */
export function storeExtras(expiration: number, flags = 0): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(flags >>> 0, 0);
  extras.writeUInt32BE(expiration >>> 0, 4);
  return extras;
}

/** Parses one response at `at`, or returns null when it is not complete yet. */
export function parseResponse(buf: Buffer, at: number): RawResponse | null {
  if (buf.length - at < HEADER_BYTES) return null;
  const keyLength = buf.readUInt16BE(at + 2);
  const extrasLength = buf[at + 4] as number;
  const totalBodyLength = buf.readUInt32BE(at + 8);
  if (buf.length - at < HEADER_BYTES + totalBodyLength) return null;
  const body = at + HEADER_BYTES;
  return {
    header: {
      opcode: buf[at + 1] as number,
      status: buf.readUInt16BE(at + 6),
      totalBodyLength,
      opaque: buf.readUInt32BE(at + 12),
      cas: buf.subarray(at + 16, at + HEADER_BYTES),
    },
    extras: buf.subarray(body, body + extrasLength),
    key: buf.subarray(body + extrasLength, body + extrasLength + keyLength),
    val: buf.subarray(body + extrasLength + keyLength, body + totalBodyLength),
  };
}

/** The value, CAS and 32-bit flags of an item read with a GET. */
export interface Item {
  value: Buffer;
  cas: Buffer;
  flags: number;
}

/** The item in a GET response, copied out of the socket's buffer. */
export function itemOf(r: RawResponse): Item {
  return {
    value: Buffer.from(r.val),
    cas: Buffer.from(r.header.cas),
    flags: r.extras.length >= 4 ? r.extras.readUInt32BE(0) : 0,
  };
}
