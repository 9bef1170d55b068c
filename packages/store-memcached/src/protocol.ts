// Binary-protocol requests to the servers of the caller's memjs 1.3.x Client, over
// connections the store opens and owns itself.
//
// memjs 1.3.2 exposes no CAS, no multi-get, retries a failed request (possibly applying
// it twice), may fail a key over to another server (which breaks "no resurrection"), and
// logs through console.log. Its `Server` also mishandles a server that stalls: every
// socket it ever opened for a server feeds ONE response buffer (which `error()` never
// clears), a socket it gave up on keeps delivering into it, that socket's late `close`
// event clears the current socket (and its timer) and strands requests queued on a
// connecting one, and request deadlines are matched to responses by count, not by
// request. So the store takes from the client only its server list (host, port, SASL
// credentials, `timeout`, `conntimeout`, `keepAlive`) and its `getServer(key)` (a custom
// hash ring is honoured), and talks to each server over its own socket: responses framed
// per socket and matched by opaque; a request that times out is forgotten (its late
// answer is read and dropped, the stream stays in step) without tearing the connection
// down; no retries, no failover, no logging. See README "How the store talks to memcached".
import net from 'node:net';

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

/** The parts of memjs 1.3.x's `Server` the store reads (its address and options). */
export interface MemjsServer {
  host: string;
  port: number;
  username?: string;
  password?: string;
  options?: { timeout?: number; conntimeout?: number; keepAlive?: boolean; keepAliveDelay?: number };
}

/** The parts of memjs 1.3.x's `Client` the store relies on. */
export interface MemjsClientInternals {
  servers: MemjsServer[];
  getServer(key: string): number;
}

/** Why a client cannot be used, or undefined when it looks like a memjs 1.3.x Client. */
export function clientProblem(client: unknown): string | undefined {
  if (typeof client !== 'object' || client === null) return 'must be a memjs Client (memjs.Client.create(...))';
  const c = client as Partial<MemjsClientInternals>;
  if (!Array.isArray(c.servers) || c.servers.length === 0) return 'must be a memjs Client with at least one server';
  if (typeof c.getServer !== 'function') return 'must be a memjs 1.3.x Client (getServer not found)';
  for (const s of c.servers) {
    if (typeof s !== 'object' || s === null || typeof s.host !== 'string' || !Number.isInteger(s.port)) {
      return 'must be a memjs 1.3.x Client (its servers lack host/port)';
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
const SASL_LIST = 0x20;
const SASL_AUTH = 0x21;

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

/** The 8-byte extras of set/add: the item's 32-bit flags and the expiration field. */
export function storeExtras(expiration: number, flags = 0): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(flags >>> 0, 0);
  extras.writeUInt32BE(expiration >>> 0, 4);
  return extras;
}

/** At most this many keys go into one multi-get request (per-user work stays bounded per request). */
export const MAX_KEYS_PER_REQUEST = 500;

export class AbortedError extends Error {
  constructor() {
    super('operation already rejected (operationTimeoutMs); request not sent');
    this.name = 'AbortedError';
  }
}

/** The value, CAS and 32-bit flags of an item read with a GET. */
export interface Item {
  value: Buffer;
  cas: Buffer;
  flags: number;
}

function itemOf(r: RawResponse): Item {
  return {
    value: Buffer.from(r.val),
    cas: Buffer.from(r.header.cas),
    flags: r.extras.length >= 4 ? r.extras.readUInt32BE(0) : 0,
  };
}

type ResponseHandler = (response: RawResponse) => void;

interface Pending {
  handler: ResponseHandler;
  /** Quiet requests (GETKQ ... NOOP) get many responses: the entry stays until the NOOP's. */
  quiet: boolean;
  fail(error: Error): void;
  /** When the request times out (performance.now()). */
  deadline: number;
}

interface Waiting {
  seq: number;
  blob: Buffer;
  op: Op;
  entry: Pending;
}

/** At most this many bytes of one response are buffered (memcached's item limit is 1 MB by default, 1 GB at most). */
const MAX_RESPONSE_BYTES = 1024 * 1024 * 1024 + 1024;

/** Parses one response at `at`, or returns null when it is not complete yet. */
function parseResponse(buf: Buffer, at: number): RawResponse | null {
  if (buf.length - at < 24) return null;
  const keyLength = buf.readUInt16BE(at + 2);
  const extrasLength = buf[at + 4] as number;
  const totalBodyLength = buf.readUInt32BE(at + 8);
  if (buf.length - at < 24 + totalBodyLength) return null;
  const body = at + 24;
  return {
    header: {
      opcode: buf[at + 1] as number,
      status: buf.readUInt16BE(at + 6),
      totalBodyLength,
      opaque: buf.readUInt32BE(at + 12),
      cas: buf.subarray(at + 16, at + 24),
    },
    extras: buf.subarray(body, body + extrasLength),
    key: buf.subarray(body + extrasLength, body + extrasLength + keyLength),
    val: buf.subarray(body + extrasLength + keyLength, body + totalBodyLength),
  };
}

/**
 * The store's own connection to one memcached server: one socket at a time, requests
 * pipelined on it, responses framed per socket and matched by opaque. A request that gets
 * no answer within the client's `timeout`, while the server has sent nothing for that
 * long either, fails alone; its late answer is read and
 * dropped, so the stream stays in step and later requests are unaffected. The socket is
 * replaced only when it fails (error, close, connect timeout, a malformed response) or
 * has received nothing for `max(4 x timeout, 5 s)` while requests timed out on it. Sockets
 * are unref'd: an idle store never keeps the process alive (pending operations do, through
 * their deadlines).
 */
export class ServerSocket {
  readonly server: MemjsServer;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly staleMs: number;
  private readonly nextSeq: () => number;
  private socket: net.Socket | undefined;
  private ready = false;
  private closeWhenIdle = false;
  private waiting: Waiting[] = [];
  private readonly pending = new Map<number, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private lastReceived = 0;

  constructor(server: MemjsServer, nextSeq: () => number) {
    this.server = server;
    this.nextSeq = nextSeq;
    const timeout = Number(server.options?.timeout ?? 0.5);
    this.timeoutMs = Number.isFinite(timeout) && timeout > 0 ? Math.round(timeout * 1000) : 500;
    const conn = Number(server.options?.conntimeout ?? (this.timeoutMs * 2) / 1000);
    this.connectTimeoutMs = Number.isFinite(conn) && conn > 0 ? Math.round(conn * 1000) : 2 * this.timeoutMs;
    this.staleMs = Math.max(4 * this.timeoutMs, 5000);
  }

  /**
   * Sends `blob` (whose requests carry opaque `seq`); `handler` gets the response(s),
   * `fail` a transport failure. A request still waiting for the connection when its
   * operation aborts is dropped, never sent.
   */
  send(seq: number, blob: Buffer, op: Op, handler: ResponseHandler, quiet: boolean, fail: (e: Error) => void): void {
    if (op.aborted) {
      fail(new AbortedError());
      return;
    }
    this.closeWhenIdle = false;
    const entry: Pending = { handler, quiet, fail, deadline: 0 };
    if (this.socket !== undefined && this.ready) {
      this.transmit(seq, blob, entry);
      return;
    }
    this.waiting.push({ seq, blob, op, entry });
    this.connect();
  }

  /** Writes raw bytes on the current socket (one call per request batch; tests count them). */
  write(blob: Buffer): void {
    this.socket?.write(blob);
  }

  /** Ends the socket once nothing is pending on it (at once when idle). */
  close(): void {
    this.closeWhenIdle = true;
    this.endIfIdle();
  }

  private transmit(seq: number, blob: Buffer, entry: Pending): void {
    entry.deadline = performance.now() + this.timeoutMs;
    this.pending.set(seq, entry);
    this.write(blob);
    this.arm(entry.deadline);
  }

  private connect(): void {
    if (this.socket !== undefined) return;
    const { host, port } = this.server;
    const socket = net.connect({ host, port });
    this.socket = socket;
    this.ready = false;
    socket.unref();
    socket.setNoDelay(true);
    if (this.server.options?.keepAlive) {
      socket.setKeepAlive(true, Number(this.server.options.keepAliveDelay ?? 30) * 1000);
    }
    const connectTimer = setTimeout(() => {
      this.drop(socket, new Error(`socket timed out connecting to ${host}:${port}`));
    }, this.connectTimeoutMs);
    connectTimer.unref();
    const authenticated = () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.ready = true;
      this.lastReceived = performance.now();
      const waiting = this.waiting;
      this.waiting = [];
      for (const w of waiting) {
        if (w.op.aborted) w.entry.fail(new AbortedError());
        else this.transmit(w.seq, w.blob, w.entry);
      }
      this.endIfIdle();
    };
    const { username, password } = this.server;
    const sasl = typeof username === 'string' && username !== '' && typeof password === 'string';
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('connect', () => {
      if (!sasl) authenticated();
      else this.write(encodeRequest(SASL_LIST, this.nextSeq(), '', null, null, null));
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.lastReceived = performance.now();
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let at = 0;
      for (;;) {
        if (buffer.length - at >= 24 && buffer[at] !== 0x81) {
          this.drop(socket, new Error(`malformed response from ${host}:${port}`));
          return;
        }
        const r = parseResponse(buffer, at);
        if (r === null) break;
        at += 24 + r.header.totalBodyLength;
        if (r.header.opcode === SASL_LIST && !this.ready) {
          this.write(encodeRequest(SASL_AUTH, this.nextSeq(), 'PLAIN', null, `\0${username}\0${password}`, null));
        } else if (r.header.opcode === SASL_AUTH && !this.ready) {
          if (r.header.status !== STATUS.OK) {
            this.drop(socket, new Error(`memcached ${host}:${port}: SASL authentication failed`));
            return;
          }
          authenticated();
        } else {
          this.respond(r);
        }
        if (this.socket !== socket) return;
      }
      buffer = at === buffer.length ? Buffer.alloc(0) : buffer.subarray(at);
      if (buffer.length >= 24 && buffer.readUInt32BE(8) > MAX_RESPONSE_BYTES) {
        this.drop(socket, new Error(`malformed response from ${host}:${port}`));
      }
    });
    socket.on('error', (error) => this.drop(socket, error));
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.drop(socket, new Error(`connection to ${host}:${port} closed`));
    });
  }

  private respond(r: RawResponse): void {
    const opaque = r.header.opaque;
    const entry = this.pending.get(opaque);
    if (entry === undefined) return; // timed out already: dropped
    if (!entry.quiet || r.header.opcode === OP.NOOP) this.pending.delete(opaque);
    entry.handler(r);
    this.endIfIdle();
  }

  /** Fails everything on `socket` (when it is still the current one) and destroys it. */
  private drop(socket: net.Socket, error: Error): void {
    socket.destroy();
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.ready = false;
    const failed = [...this.pending.values(), ...this.waiting.map((w) => w.entry)];
    this.pending.clear();
    this.waiting = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    for (const entry of failed) entry.fail(error);
  }

  private endIfIdle(): void {
    if (!this.closeWhenIdle || this.pending.size > 0 || this.waiting.length > 0 || this.socket === undefined) return;
    const socket = this.socket;
    this.socket = undefined;
    this.ready = false;
    socket.end();
  }

  private arm(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    // setImmediate: after a stalled event loop, let the socket's pending data be read
    // first (timers run before I/O in a loop turn), so answers already here count.
    this.timer = setTimeout(() => setImmediate(() => this.expire()), Math.max(0, at - performance.now()) + 1);
    this.timer.unref();
  }

  /**
   * Fails the requests past their deadline, unless the server has sent something within
   * the last `timeout` (it is answering, just slowly: a big response streaming in; the
   * operation's own deadline still bounds them); replaces a socket that has gone silent.
   */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const first = this.pending.values().next();
    if (!first.done && this.ready && now - this.lastReceived < this.timeoutMs) {
      this.arm(Math.max(first.value.deadline, this.lastReceived + this.timeoutMs));
      return;
    }
    const expired: Pending[] = [];
    for (const [seq, entry] of this.pending) {
      if (entry.deadline > now) break; // insertion order is deadline order
      this.pending.delete(seq);
      expired.push(entry);
    }
    const { host, port } = this.server;
    const error = new Error(
      `memcached ${host}:${port} did not answer within the client's timeout (${this.timeoutMs} ms)`,
    );
    if (expired.length > 0 && this.socket !== undefined && now - this.lastReceived > this.staleMs) {
      this.drop(this.socket, new Error(`memcached ${host}:${port} sent nothing for ${this.staleMs} ms; reconnecting`));
    }
    for (const entry of expired) entry.fail(error);
    const next = this.pending.values().next();
    if (!next.done) this.arm(next.value.deadline);
    this.endIfIdle();
  }
}

/** Requests over the store's own connections: no retries, no failover, no logging. */
export class Connection {
  private readonly client: MemjsClientInternals;
  private readonly sockets: ServerSocket[];
  private seq = 0;

  constructor(client: MemjsClientInternals) {
    this.client = client;
    const next = () => this.nextSeq();
    this.sockets = client.servers.map((server) => new ServerSocket(server, next));
  }

  /** The server memjs would pick for `key` (no failover). */
  serverIndex(key: string): number {
    return this.sockets.length > 1 ? this.client.getServer(key) : 0;
  }

  private server(key: string): ServerSocket {
    return this.sockets[this.serverIndex(key)] as ServerSocket;
  }

  private nextSeq(): number {
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1;
    return this.seq;
  }

  /** Ends every connection once nothing is pending on it. */
  close(): void {
    for (const s of this.sockets) s.close();
  }

  /** One request, one response. */
  request(key: string, build: (seq: number) => Buffer, op: Op): Promise<RawResponse> {
    const server = this.server(key);
    const seq = this.nextSeq();
    const blob = build(seq);
    return new Promise<RawResponse>((resolve, reject) => {
      server.send(seq, blob, op, resolve, false, reject);
    });
  }

  /** GET: the item or null. */
  async get(key: string, op: Op): Promise<Item | null> {
    const r = await this.request(key, (seq) => encodeRequest(OP.GET, seq, key, null, null, null), op);
    const status = r.header.status;
    if (status === STATUS.OK) return itemOf(r);
    if (status === STATUS.NOT_FOUND) return null;
    throw new MemcachedStatusError('GET', status, this.server(key).server);
  }

  /**
   * Many GETs in one write per server (GETKQ ... NOOP), at most MAX_KEYS_PER_REQUEST keys
   * per write: a missing key gets no answer.
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
    const batches: [number, string[]][] = [];
    for (const key of keys) {
      const index = this.serverIndex(key);
      let group = groups.get(index);
      if (group === undefined || group.length >= MAX_KEYS_PER_REQUEST) {
        group = [];
        groups.set(index, group);
        batches.push([index, group]);
      }
      group.push(key);
    }
    await Promise.all(
      batches.map(([index, group]) => {
        const server = this.sockets[index] as ServerSocket;
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
              found.set(r.key.toString('latin1'), itemOf(r));
            } else if (r.header.status !== STATUS.NOT_FOUND) {
              failure ??= new MemcachedStatusError('GETKQ', r.header.status, server.server);
            }
          };
          server.send(seq, blob, op, handler, true, reject);
        });
      }),
    );
    return found;
  }

  /** ADD: the new item's CAS when stored, null when the key exists. */
  async add(key: string, value: string, expiration: number, op: Op, flags = 0): Promise<Buffer | null> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.ADD, seq, key, storeExtras(expiration, flags), value, null),
      op,
    );
    const status = r.header.status;
    if (status === STATUS.OK) return Buffer.from(r.header.cas);
    if (status === STATUS.EXISTS || status === STATUS.NOT_STORED) return null;
    throw new MemcachedStatusError('ADD', status, this.server(key).server);
  }

  /** SET with a CAS value: the new item's CAS when stored, null when it changed or vanished. */
  async casSetWithCas(
    key: string,
    value: string,
    expiration: number,
    cas: Buffer,
    op: Op,
    flags = 0,
  ): Promise<Buffer | null> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.SET, seq, key, storeExtras(expiration, flags), value, cas),
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
    flags = 0,
  ): Promise<'ok' | 'missing' | 'changed'> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.SET, seq, key, storeExtras(expiration, flags), value, cas),
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
    throw new MemcachedStatusError(command, status, this.server(key).server);
  }
}
