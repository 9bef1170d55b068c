// Requests to the servers of the caller's memjs 1.3.x Client, over connections the store
// opens and owns itself (one ServerSocket per server): server selection, and the
// commands the store sends (GET, multi-get, ADD, SET and DELETE with CAS).
//
// memjs 1.3.2 exposes no CAS, no multi-get, retries a failed request (possibly applying
// it twice), may fail a key over to another server (which breaks "no resurrection"), and
// logs through console.log. So the store takes from the client only its server list
// (host, port, SASL credentials, `timeout`, `conntimeout`, `keepAlive`) and its
// `getServer(key)` (a custom hash ring is honoured): no retries, no failover, no
// logging. See README "How the store talks to memcached".
import {
  encodeRequest,
  type Item,
  itemOf,
  MemcachedStatusError,
  OP,
  type RawResponse,
  STATUS,
  storeExtras,
} from './framing.js';
import { type MemjsServer, type Op, type ResponseHandler, ServerSocket } from './server-socket.js';

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

/** At most this many keys go into one multi-get request (per-user work stays bounded per request). */
export const MAX_KEYS_PER_REQUEST = 500;
/** Request opaques (sequence numbers) wrap around after this. */
const MAX_SEQ = 0x7fffffff;

/** A CAS write's outcome: written, the key is gone, or someone wrote it since it was read. */
export type CasOutcome = 'ok' | 'missing' | 'changed';

/** Requests over the store's own connections: no retries, no failover, no logging. */
export class Connection {
  readonly #client: MemjsClientInternals;
  readonly #sockets: ServerSocket[];
  #seq: number;

  /** @param firstSeq where the request counter starts (tests start it near its wrap-around) */
  constructor(client: MemjsClientInternals, firstSeq = 0) {
    this.#client = client;
    this.#seq = firstSeq;
    const next = () => this.#nextSeq();
    this.#sockets = client.servers.map((server) => new ServerSocket(server, next));
  }

  /** The server memjs would pick for `key` (no failover). */
  serverIndex(key: string): number {
    return this.#sockets.length > 1 ? this.#client.getServer(key) : 0;
  }

  #server(key: string): ServerSocket {
    return this.#sockets[this.serverIndex(key)] as ServerSocket;
  }

  /** The opaque of the latest request. */
  get seq(): number {
    return this.#seq;
  }

  #nextSeq(): number {
    this.#seq = this.#seq >= MAX_SEQ ? 1 : this.#seq + 1;
    return this.#seq;
  }

  /** Ends every connection once nothing is pending on it. */
  close(): void {
    for (const s of this.#sockets) s.close();
  }

  /** One request, one response. */
  request(key: string, build: (seq: number) => Buffer, op: Op): Promise<RawResponse> {
    const server = this.#server(key);
    const seq = this.#nextSeq();
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
    throw new MemcachedStatusError('GET', status, this.#server(key).server);
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
        const server = this.#sockets[index] as ServerSocket;
        const seq = this.#nextSeq();
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
    throw new MemcachedStatusError('ADD', status, this.#server(key).server);
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
    if (this.#casOutcome('SET', key, r.header.status) !== 'ok') return null;
    return Buffer.from(r.header.cas);
  }

  /**
   * SET with a CAS value: 'ok', 'missing' (the key is gone) or 'changed' (someone wrote
   * it since it was read).
   */
  async casSet(key: string, value: string, expiration: number, cas: Buffer, op: Op, flags = 0): Promise<CasOutcome> {
    const r = await this.request(
      key,
      (seq) => encodeRequest(OP.SET, seq, key, storeExtras(expiration, flags), value, cas),
      op,
    );
    return this.#casOutcome('SET', key, r.header.status);
  }

  /** DELETE, with a CAS value when given: 'ok', 'missing' or 'changed'. */
  async delete(key: string, cas: Buffer | null, op: Op): Promise<CasOutcome> {
    const r = await this.request(key, (seq) => encodeRequest(OP.DELETE, seq, key, null, null, cas), op);
    return this.#casOutcome('DELETE', key, r.header.status);
  }

  #casOutcome(command: string, key: string, status: number): CasOutcome {
    if (status === STATUS.OK) return 'ok';
    if (status === STATUS.NOT_FOUND) return 'missing';
    if (status === STATUS.EXISTS || status === STATUS.NOT_STORED) return 'changed';
    throw new MemcachedStatusError(command, status, this.#server(key).server);
  }
}
