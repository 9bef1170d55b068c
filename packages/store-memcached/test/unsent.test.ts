// "A command that was not yet sent when its operation rejected is never sent later."
// The store queues requests while its connection is still being set up (TCP connect, then SASL).
// A fake server that stalls the SASL handshake holds the store's requests in that queue;
// once the operation has rejected, they must never reach the server.
import net from 'node:net';
import { OperationDeadlines, SessionError, tenantId } from '@sessionkit/core';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemcachedSessionStore } from '../src/index.js';
import { quietLogger } from './helpers.js';

interface Fake {
  port: number;
  /** Opcodes received after authentication, in order. */
  received: number[];
  /** Releases the stalled SASL handshakes. */
  release(): void;
  close(): Promise<void>;
}

function response(opcode: number, opaque: number, status: number, value = ''): Buffer {
  const body = Buffer.from(value);
  const header = Buffer.alloc(24);
  header[0] = 0x81;
  header[1] = opcode;
  header.writeUInt16BE(status, 6);
  header.writeUInt32BE(body.length, 8);
  header.writeUInt32BE(opaque, 12);
  return Buffer.concat([header, body]);
}

async function fakeServer(): Promise<Fake> {
  const received: number[] = [];
  const stalled: (() => void)[] = [];
  let released = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 24 && buffer.length >= 24 + buffer.readUInt32BE(8)) {
        const opcode = buffer[1] as number;
        const opaque = buffer.readUInt32BE(12);
        buffer = buffer.subarray(24 + buffer.readUInt32BE(8));
        if (opcode === 0x20) {
          const answer = () => socket.write(response(0x20, opaque, 0, 'PLAIN'));
          if (released) answer();
          else stalled.push(answer);
        } else if (opcode === 0x21) {
          socket.write(response(0x21, opaque, 0, 'Authenticated'));
        } else {
          received.push(opcode);
          socket.write(response(opcode, opaque, 1)); // "not found" for everything
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    release() {
      released = true;
      for (const answer of stalled.splice(0)) answer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let fake: Fake;
beforeAll(async () => {
  fake = await fakeServer();
});
afterAll(async () => {
  await fake?.close();
});

describe('requests queued behind a connection that is not ready', () => {
  it('are dropped once their operation has rejected: nothing reaches the server later', async () => {
    const client = memjs.Client.create(`u:p@127.0.0.1:${fake.port}`, { timeout: 10, retries: 1, logger: quietLogger });
    const store = new MemcachedSessionStore({ client, operationTimeoutMs: 200 });
    try {
      const now = Date.now();
      const attempts = [
        store.get('some-session'),
        store.touch('some-session'),
        store.create({
          id: 'custom-id',
          userId: 'u',
          tenantId: tenantId('t'),
          transactionId: '',
          factorsUsed: [],
          assuranceLevel: 1,
          metadata: null,
          createdAt: new Date(now),
          expiresAt: new Date(now + 60_000),
          lastActivityAt: new Date(now),
        }),
      ];
      for (const attempt of attempts) {
        const error = await attempt.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
      }
      fake.release(); // the connection becomes ready now
      await new Promise((r) => setTimeout(r, 300));
      expect(fake.received).toEqual([]); // none of the rejected operations' requests was sent
      // and the same store works once the connection is ready
      expect(await store.get('some-session')).toBeNull();
      expect(fake.received).toEqual([0x00]);
    } finally {
      await store.close();
      client.close();
    }
  });

  it('close() stops the deadline timer, and an operation started after close() is bounded again', async () => {
    const stalled = await fakeServer(); // never finishes the handshake: every request waits
    const client = memjs.Client.create(`u:p@127.0.0.1:${stalled.port}`, {
      timeout: 10,
      retries: 1,
      logger: quietLogger,
    });
    const store = new MemcachedSessionStore({ client, operationTimeoutMs: 200 });
    const stop = vi.spyOn(OperationDeadlines.prototype, 'stop');
    try {
      await store.close();
      expect(stop).toHaveBeenCalledTimes(1);
      const start = performance.now();
      const error = await store.get('some-session').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
      expect(performance.now() - start).toBeLessThan(200 + 2500);
    } finally {
      stop.mockRestore();
      client.close();
      await stalled.close();
    }
  });
});
