// Fail closed: a backend that is down makes every manager method reject STORAGE (never a
// null that reads as "signed out", never a token that was not stored). Real Redis, stopped.
import { SessionError } from '@sessionkit/core';
import { RedisSessionStore } from '@sessionkit/store-redis';
import { type RedisServer, startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/index.js';
import { someone } from './helpers.js';

describe('SessionManager when Redis is down', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis(); // always its own server: this test kills it
    client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('rejects STORAGE (with the cause) on every method, and works again once Redis is back', async () => {
    const store = new RedisSessionStore({ client, prefix: 'mgrfail:', operationTimeoutMs: 1000 });
    const manager = new SessionManager({ store, touchAfterMs: 0 });
    const who = someone();
    const { token, session } = await manager.issue(who);
    expect(await manager.validate(token)).not.toBeNull();

    await server.kill();
    const calls: [string, () => Promise<unknown>][] = [
      ['validate', () => manager.validate(token)],
      ['issue', () => manager.issue(who)],
      ['stepUp', () => manager.stepUp(token, { factorsUsed: ['totp'], assuranceLevel: 2 })],
      ['list', () => manager.list(who.userId, who.tenantId)],
      ['revoke', () => manager.revoke(session.handle)],
      ['signOut', () => manager.signOut(token)],
      ['revokeOthers', () => manager.revokeOthers(token)],
      ['revokeAll', () => manager.revokeAll(who.userId, who.tenantId)],
    ];
    for (const [name, call] of calls) {
      const error = await call().then(
        (value) => ({ resolved: value }),
        (e: unknown) => e,
      );
      expect(SessionError.hasCode(error, 'STORAGE'), `${name} must reject STORAGE`).toBe(true);
      expect((error as SessionError).cause, name).toBeDefined();
    }

    await server.restart();
    for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
    const again = await manager.issue(who); // the data died with the server; the same manager works again
    expect(await manager.validate(again.token)).not.toBeNull();
    await store.close();
  });
});
