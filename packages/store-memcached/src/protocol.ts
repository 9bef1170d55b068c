// Binary-protocol requests sent over the connections of the caller's memjs 1.3.x Client.
//
// memjs 1.3.2 exposes no CAS, no multi-get, retries a failed request (possibly applying
// it twice), may fail a key over to another server (which breaks "no resurrection"), and
// logs through console.log. The store therefore builds its own memcached binary-protocol
// requests and writes them through memjs's own `Server` objects (the same sockets, the
// same opaque sequence counter, the same per-request timeout), choosing the server with
// the client's own `getServer(key)` (so a custom hash ring is honoured) but never failing
// over and never retrying. See README "How the store talks to memcached".
import type { Socket } from 'node:net';

/** A parsed binary-protocol response, as memjs's `Server` hands it to callbacks. */
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

type ResponseHandler = ((response: RawResponse) => void) & { quiet?: boolean };

/** The parts of memjs 1.3.x's `Server` the store relies on. */
export interface MemjsServer {
  host: string;
  port: number;
  responseCallbacks: Record<number, unknown>;
  errorCallbacks: Record<number, unknown>;
  onResponse(seq: number, fn: ResponseHandler): void;
  onError(seq: number, fn: (error: unknown) => void): void;
  write(blob: Buffer): void;
  sock(sasl: boolean, go: (socket: Socket) => void): void;
}

/** The parts of memjs 1.3.x's `Client` the store relies on. */
export interface MemjsClientInternals {
  servers: MemjsServer[];
  seq: number;
  incrSeq(): void;
  getServer(key: string): number;
}

/** Why a client cannot be used, or undefined when it looks like a memjs 1.3.x Client. */
export function clientProblem(client: unknown): string | undefined {
  if (typeof client !== 'object' || client === null) return 'must be a memjs Client (memjs.Client.create(...))';
  const c = client as Partial<MemjsClientInternals>;
  if (!Array.isArray(c.servers) || c.servers.length === 0) return 'must be a memjs Client with at least one server';
  if (typeof c.incrSeq !== 'function' || typeof c.getServer !== 'function' || typeof c.seq !== 'number') {
    return 'must be a memjs 1.3.x Client (incrSeq/getServer/seq not found)';
  }
  for (const s of c.servers) {
    if (
      typeof s !== 'object' ||
      s === null ||
      typeof s.write !== 'function' ||
      typeof s.sock !== 'function' ||
      typeof s.onResponse !== 'function' ||
      typeof s.onError !== 'function' ||
      typeof s.responseCallbacks !== 'object' ||
      typeof s.errorCallbacks !== 'object'
    ) {
      return 'must be a memjs 1.3.x Client (its servers lack write/sock/onResponse/onError)';
    }
  }
  return undefined;
}

/** One store operation: once it has rejected, nothing more of it is sent. */
export interface Op {
  aborted: boolean;
}

export const OP = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  DELETE: 0x04,
  NOOP: 0x0a,
  GETKQ: 0x0d,
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

export class MemcachedStatusError extends Error {
  readonly status: number;
  constructor(command: string, status: number, server: MemjsServer) {
    super(`${command} on ${server.host}:${server.port}: ${STATUS_TEXT[status] ?? `status 0x${status.toString(16)}`}`);
    this.name = 'MemcachedStatusError';
    this.status = status;
  }
}

const ZERO_CAS = Buffer.alloc(8);
const MAX_SEQ = 0x7fffffff;

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
  const buf = Buffer.allocUnsafe(24 + body);
  buf[0] = 0x80;
  buf[1] = opcode;
  buf.writeUInt16BE(keyLength, 2);
  buf[4] = extrasLength;
  buf[5] = 0;
  buf.writeUInt16BE(0, 6);
  buf.writeUInt32BE(body, 8);
  buf.writeUInt32BE(opaque >>> 0, 12);
  (cas ?? ZERO_CAS).copy(buf, 16, 0, 8);
  let at = 24;
  if (extras !== null) {
    extras.copy(buf, at);
    at += extrasLength;
  }
  buf.write(key, at, keyLength, 'latin1');
  at += keyLength;
  if (value !== null) buf.write(value, at, valueLength, 'utf8');
  return buf;
}

/** The 8-byte extras of set/add: flags 0 and the expiration field. */
export function storeExtras(expiration: number): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(expiration >>> 0, 4);
  return extras;
}

export class AbortedError extends Error {
  constructor() {
    super('operation already rejected (operationTimeoutMs); request not sent');
    this.name = 'AbortedError';
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The value and CAS of an item read with a GET. */
export interface Item {
  value: Buffer;
  cas: Buffer;
}

/** Requests over a memjs client's own connections: no retries, no failover, no logging. */
export class Connection {
  private readonly client: MemjsClientInternals;

  constructor(client: MemjsClientInternals) {
    this.client = client;
  }

  /** The server memjs would pick for `key` (no failover). */
  serverIndex(key: string): number {
    const servers = this.client.servers;
    return servers.length > 1 ? this.client.getServer(key) : 0;
  }

  /**
   * The next opaque from the client's own counter (shared with memjs's own requests, so
   * callbacks never collide). memjs 1.3.2 wraps it with `seq &= 0xffffffff`, which turns
   * negative after 2^31 requests (and then breaks memjs's header writer): restart at 1.
   */
  private nextSeq(): number {
    this.client.incrSeq();
    let seq = this.client.seq;
    if (!(seq > 0 && seq <= MAX_SEQ)) {
      this.client.seq = 0;
      this.client.incrSeq();
      seq = this.client.seq;
    }
    return seq;
  }

  /**
   * Sends `blob` to `server` with `handler` for its response(s). A request that is still
   * waiting for its connection when its operation aborts is dropped, never sent.
   */
  private send(
    server: MemjsServer,
    seq: number,
    blob: Buffer,
    op: Op,
    handler: ResponseHandler,
    fail: (e: Error) => void,
  ) {
    if (op.aborted) {
      fail(new AbortedError());
      return;
    }
    server.onResponse(seq, handler);
    server.onError(seq, (error) => fail(asError(error)));
    server.sock(false, () => {
      if (op.aborted) {
        delete server.responseCallbacks[seq];
        delete server.errorCallbacks[seq];
        fail(new AbortedError());
        return;
      }
      server.write(blob);
    });
  }

  /** One request, one response. */
  request(key: string, build: (seq: number) => Buffer, op: Op): Promise<RawResponse> {
    const server = this.client.servers[this.serverIndex(key)] as MemjsServer;
    const seq = this.nextSeq();
    const blob = build(seq);
    return new Promise<RawResponse>((resolve, reject) => {
      this.send(server, seq, blob, op, resolve, reject);
    });
  }

  /** GET: the item or null. */
  async get(key: string, op: Op): Promise<Item | null> {
    const r = await this.request(key, (seq) => encodeRequest(OP.GET, seq, key, null, null, null), op);
    const status = r.header.status;
    if (status === STATUS.OK) return { value: r.val, cas: Buffer.from(r.header.cas) };
    if (status === STATUS.NOT_FOUND) return null;
    throw new MemcachedStatusError('GET', status, this.client.servers[this.serverIndex(key)] as MemjsServer);
  }

  /**
   * Many GETs in one write per server (GETKQ ... NOOP): a missing key gets no answer.
   * Returns the items found, by key.
   */
  async getMany(keys: readonly string[], op: Op): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    if (keys.length === 0) return found;
    if (keys.length === 1) {
      const key = keys[0] as string;
      const item = await this.get(key, op);
      if (item !== null) found.set(key, item);
      return found;
    }
    const groups = new Map<number, string[]>();
    for (const key of keys) {
      const index = this.serverIndex(key);
      const group = groups.get(index);
      if (group) group.push(key);
      else groups.set(index, [key]);
    }
    await Promise.all(
      [...groups].map(([index, group]) => {
        const server = this.client.servers[index] as MemjsServer;
        const seq = this.nextSeq();
        const parts = group.map((key) => encodeRequest(OP.GETKQ, seq, key, null, null, null));
        parts.push(encodeRequest(OP.NOOP, seq, '', null, null, null));
        const blob = Buffer.concat(parts);
        return new Promise<void>((resolve, reject) => {
          let failure: Error | undefined;
          const handler: ResponseHandler = (r) => {
            if (r.header.opcode === OP.NOOP) {
              if (failure) reject(failure);
              else resolve();
              return;
            }
            if (r.header.status === STATUS.OK) {
              found.set(r.key.toString('latin1'), { value: r.val, cas: Buffer.from(r.header.cas) });
            } else if (r.header.status !== STATUS.NOT_FOUND) {
              failure ??= new MemcachedStatusError('GETKQ', r.header.status, server);
            }
          };
          handler.quiet = true;
          this.send(server, seq, blob, op, handler, reject);
        });
      }),
    );
    return found;
  }

  /** ADD: the new item's CAS when stored, null when the key exists. */
  async add(key: string, value: string, expiration: number, op: Op): Promise<Buffer | null> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.ADD, seq, key, storeExtras(expiration), value, null),
      op,
    );
    const status = r.header.status;
    if (status === STATUS.OK) return Buffer.from(r.header.cas);
    if (status === STATUS.EXISTS || status === STATUS.NOT_STORED) return null;
    throw new MemcachedStatusError('ADD', status, this.client.servers[this.serverIndex(key)] as MemjsServer);
  }

  /** SET with a CAS value: the new item's CAS when stored, null when it changed or vanished. */
  async casSetWithCas(key: string, value: string, expiration: number, cas: Buffer, op: Op): Promise<Buffer | null> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.SET, seq, key, storeExtras(expiration), value, cas),
      op,
    );
    if (this.casOutcome('SET', key, r.header.status) !== 'ok') return null;
    return Buffer.from(r.header.cas);
  }

  /**
   * SET with a CAS value: 'ok', 'missing' (the key is gone) or 'changed' (someone wrote
   * it since it was read).
   */
  async casSet(
    key: string,
    value: string,
    expiration: number,
    cas: Buffer,
    op: Op,
  ): Promise<'ok' | 'missing' | 'changed'> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.SET, seq, key, storeExtras(expiration), value, cas),
      op,
    );
    return this.casOutcome('SET', key, r.header.status);
  }

  /** DELETE, with a CAS value when given: 'ok', 'missing' or 'changed'. */
  async delete(key: string, cas: Buffer | null, op: Op): Promise<'ok' | 'missing' | 'changed'> {
    const r = await this.request(key, (seq) => encodeRequest(OP.DELETE, seq, key, null, null, cas), op);
    return this.casOutcome('DELETE', key, r.header.status);
  }

  private casOutcome(command: string, key: string, status: number): 'ok' | 'missing' | 'changed' {
    if (status === STATUS.OK) return 'ok';
    if (status === STATUS.NOT_FOUND) return 'missing';
    if (status === STATUS.EXISTS || status === STATUS.NOT_STORED) return 'changed';
    throw new MemcachedStatusError(command, status, this.client.servers[this.serverIndex(key)] as MemjsServer);
  }
}
