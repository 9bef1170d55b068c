// The store's own socket to one memcached server: connecting (with SASL), pipelining,
// framing responses per socket and matching them by opaque, per-request timeouts that
// fail one request without tearing the socket down, and reconnecting when it fails.
//
// Why not memjs's own `Server`: it mishandles a server that stalls. Every socket it ever
// opened for a server feeds ONE response buffer (which `error()` never clears), a socket
// it gave up on keeps delivering into it, that socket's late `close` event clears the
// current socket (and its timer) and strands requests queued on a connecting one, and
// request deadlines are matched to responses by count, not by request. See README "How
// the store talks to memcached".
import net from 'node:net';
import {
  encodeRequest,
  HEADER_BYTES,
  MAX_RESPONSE_BYTES,
  OP,
  parseResponse,
  type RawResponse,
  RESPONSE_MAGIC,
  STATUS,
} from './framing.js';

/** The parts of memjs 1.3.x's `Server` the store reads (its address and options). */
export interface MemjsServer {
  host: string;
  port: number;
  username?: string;
  password?: string;
  options?: { timeout?: number; conntimeout?: number; keepAlive?: boolean; keepAliveDelay?: number };
}

/** One store operation: once it has rejected, nothing more of it is sent. */
export interface Op {
  aborted: boolean;
}

/** A request of an operation that had already rejected: never sent. */
export class AbortedError extends Error {
  constructor() {
    super('operation already rejected (operationTimeoutMs); request not sent');
    this.name = 'AbortedError';
  }
}

export type ResponseHandler = (response: RawResponse) => void;

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
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #staleMs: number;
  readonly #nextSeq: () => number;
  #socket: net.Socket | undefined;
  /** The socket corked for this turn of the event loop, if any (see write). */
  #corked: net.Socket | undefined;
  #ready = false;
  #closeWhenIdle = false;
  #waiting: Waiting[] = [];
  readonly #pending = new Map<number, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #lastReceived = 0;

  constructor(server: MemjsServer, nextSeq: () => number) {
    this.server = server;
    this.#nextSeq = nextSeq;
    const timeout = Number(server.options?.timeout ?? 0.5);
    this.#timeoutMs = Number.isFinite(timeout) && timeout > 0 ? Math.round(timeout * 1000) : 500;
    const conn = Number(server.options?.conntimeout ?? (this.#timeoutMs * 2) / 1000);
    this.#connectTimeoutMs = Number.isFinite(conn) && conn > 0 ? Math.round(conn * 1000) : 2 * this.#timeoutMs;
    this.#staleMs = Math.max(4 * this.#timeoutMs, 5000);
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
    this.#closeWhenIdle = false;
    const entry: Pending = { handler, quiet, fail, deadline: 0 };
    if (this.#socket !== undefined && this.#ready) {
      this.#transmit(seq, blob, entry);
      return;
    }
    this.#waiting.push({ seq, blob, op, entry });
    this.#connect();
  }

  /**
   * Writes raw bytes on the current socket (one call per request batch; tests count
   * them). Requests written in one turn of the event loop (64 operations continuing
   * after one batch of answers) leave in one system call: the socket is corked until
   * the turn's callbacks and promise jobs have run.
   */
  write(blob: Buffer): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    if (this.#corked !== socket) {
      this.#corked = socket;
      socket.cork();
      process.nextTick(() => {
        if (this.#corked === socket) this.#corked = undefined;
        socket.uncork();
      });
    }
    socket.write(blob);
  }

  /** Ends the socket once nothing is pending on it (at once when idle). */
  close(): void {
    this.#closeWhenIdle = true;
    this.#endIfIdle();
  }

  #transmit(seq: number, blob: Buffer, entry: Pending): void {
    entry.deadline = performance.now() + this.#timeoutMs;
    this.#pending.set(seq, entry);
    this.write(blob);
    this.#arm(entry.deadline);
  }

  #connect(): void {
    if (this.#socket !== undefined) return;
    const { host, port } = this.server;
    const socket = net.connect({ host, port });
    this.#socket = socket;
    this.#ready = false;
    socket.unref();
    socket.setNoDelay(true);
    if (this.server.options?.keepAlive) {
      socket.setKeepAlive(true, Number(this.server.options.keepAliveDelay ?? 30) * 1000);
    }
    const connectTimer = setTimeout(() => {
      this.#drop(socket, new Error(`socket timed out connecting to ${host}:${port}`));
    }, this.#connectTimeoutMs);
    connectTimer.unref();
    const authenticated = () => {
      clearTimeout(connectTimer);
      if (this.#socket !== socket) return;
      this.#ready = true;
      this.#lastReceived = performance.now();
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const w of waiting) {
        if (w.op.aborted) w.entry.fail(new AbortedError());
        else this.#transmit(w.seq, w.blob, w.entry);
      }
      this.#endIfIdle();
    };
    const { username, password } = this.server;
    const sasl = typeof username === 'string' && username !== '' && typeof password === 'string';
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('connect', () => {
      if (!sasl) authenticated();
      else this.write(encodeRequest(OP.SASL_LIST, this.#nextSeq(), '', null, null, null));
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket !== socket) return;
      this.#lastReceived = performance.now();
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let at = 0;
      for (;;) {
        if (buffer.length - at >= HEADER_BYTES && buffer[at] !== RESPONSE_MAGIC) {
          this.#drop(socket, new Error(`malformed response from ${host}:${port}`));
          return;
        }
        const r = parseResponse(buffer, at);
        if (r === null) break;
        at += HEADER_BYTES + r.header.totalBodyLength;
        if (r.header.opcode === OP.SASL_LIST && !this.#ready) {
          this.write(encodeRequest(OP.SASL_AUTH, this.#nextSeq(), 'PLAIN', null, `\0${username}\0${password}`, null));
        } else if (r.header.opcode === OP.SASL_AUTH && !this.#ready) {
          if (r.header.status !== STATUS.OK) {
            this.#drop(socket, new Error(`memcached ${host}:${port}: SASL authentication failed`));
            return;
          }
          authenticated();
        } else {
          this.#respond(r);
        }
        if (this.#socket !== socket) return;
      }
      buffer = at === buffer.length ? Buffer.alloc(0) : buffer.subarray(at);
      if (buffer.length >= HEADER_BYTES && buffer.readUInt32BE(8) > MAX_RESPONSE_BYTES) {
        this.#drop(socket, new Error(`malformed response from ${host}:${port}`));
      }
    });
    socket.on('error', (error) => this.#drop(socket, error));
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.#drop(socket, new Error(`connection to ${host}:${port} closed`));
    });
  }

  #respond(r: RawResponse): void {
    const opaque = r.header.opaque;
    const entry = this.#pending.get(opaque);
    if (entry === undefined) return; // timed out already: dropped
    if (!entry.quiet || r.header.opcode === OP.NOOP) this.#pending.delete(opaque);
    entry.handler(r);
    this.#endIfIdle();
  }

  /** Fails everything on `socket` (when it is still the current one) and destroys it. */
  #drop(socket: net.Socket, error: Error): void {
    socket.destroy();
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    this.#ready = false;
    const failed = [...this.#pending.values(), ...this.#waiting.map((w) => w.entry)];
    this.#pending.clear();
    this.#waiting = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const entry of failed) entry.fail(error);
  }

  #endIfIdle(): void {
    if (!this.#closeWhenIdle || this.#pending.size > 0 || this.#waiting.length > 0 || this.#socket === undefined)
      return;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#ready = false;
    socket.end();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    // setImmediate: after a stalled event loop, let the socket's pending data be read
    // first (timers run before I/O in a loop turn), so answers already here count.
    this.#timer = setTimeout(() => setImmediate(() => this.#expire()), Math.max(0, at - performance.now()) + 1);
    this.#timer.unref();
  }

  /**
   * Fails the requests past their deadline, unless the server has sent something within
   * the last `timeout` (it is answering, just slowly: a big response streaming in; the
   * operation's own deadline still bounds them); replaces a socket that has gone silent.
   */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const first = this.#pending.values().next();
    if (!first.done && this.#ready && now - this.#lastReceived < this.#timeoutMs) {
      this.#arm(Math.max(first.value.deadline, this.#lastReceived + this.#timeoutMs));
      return;
    }
    const expired: Pending[] = [];
    for (const [seq, entry] of this.#pending) {
      if (entry.deadline > now) break; // insertion order is deadline order
      this.#pending.delete(seq);
      expired.push(entry);
    }
    const { host, port } = this.server;
    const error = new Error(
      `memcached ${host}:${port} did not answer within the client's timeout (${this.#timeoutMs} ms)`,
    );
    if (expired.length > 0 && this.#socket !== undefined && now - this.#lastReceived > this.#staleMs) {
      this.#drop(
        this.#socket,
        new Error(`memcached ${host}:${port} sent nothing for ${this.#staleMs} ms; reconnecting`),
      );
    }
    for (const entry of expired) entry.fail(error);
    const next = this.#pending.values().next();
    if (!next.done) this.#arm(next.value.deadline);
    this.#endIfIdle();
  }
}
