// The README's Redis RevocationStore (examples/redis-revocations.ts), run against a real
// Redis: REDIS_URL when set, else a throwaway server started here (the test fails with the
// reason when it cannot start one).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SessionError, tenantId } from '@sessionkit/core';
import { describeSessionStore } from '@sessionkit/core/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisServer } from '../../../scripts/test-servers/index.mjs';
import { startRedis } from '../../../scripts/test-servers/index.mjs';
import { redisRevocations } from '../examples/redis-revocations.js';
import { JwtSessionStore } from '../src/index.js';
import { HOUR, record, TestClock } from './helpers.js';

let server: RedisServer | undefined;
let redis: Redis;
let n = 0;
const secret = randomBytes(32);
const prefix = () => `test${process.pid}:${n++}:`;

beforeAll(async () => {
  server = process.env.REDIS_URL ? undefined : await startRedis();
  redis = new Redis(process.env.REDIS_URL ?? (server as RedisServer).url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
  await redis.connect();
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('the Redis RevocationStore from the README', () => {
  it('is the code the README shows, word for word', () => {
    const example = readFileSync(new URL('../examples/redis-revocations.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
  });

  it('shares revocations between store instances (processes) and lets Redis expire them', async () => {
    const clock = new TestClock();
    const p = prefix();
    const a = new JwtSessionStore({ secret, revocations: redisRevocations(redis, p), clock: clock.now });
    const b = new JwtSessionStore({ secret, revocations: redisRevocations(redis, p), clock: clock.now });
    const input = record(clock);
    const [t1, t2] = [await a.create(input), await a.create(input)];
    await a.delete(t1);
    expect(await b.get(t1)).toBeNull();
    expect((await b.get(t2))?.userId).toBe(input.userId);
    const ttl = await redis.pttl(
      `${p}t:${JSON.parse(Buffer.from(t1.split('.')[1] as string, 'base64url').toString()).jti}`,
    );
    expect(ttl).toBeGreaterThan(HOUR); // kept past the token's expiry (an hour from now)
    expect(ttl).toBeLessThanOrEqual(2 * HOUR);

    clock.advance(1);
    expect(await b.deleteByUser(input.userId, input.tenantId)).toBe(0);
    expect(await a.get(t2)).toBeNull(); // signed before the revocation
    clock.advance(1);
    const later = await a.create(record(clock, { userId: input.userId, tenantId: input.tenantId }));
    expect((await b.get(later))?.userId).toBe(input.userId); // signed after it
  });

  it('keeps the later revocation time and the later expiry of a user entry', async () => {
    const clock = new TestClock();
    const p = prefix();
    const store = new JwtSessionStore({
      secret,
      revocations: redisRevocations(redis, p),
      clock: clock.now,
      maxLifetimeMs: 2 * HOUR,
    });
    const input = record(clock);
    await store.deleteByUser(input.userId, input.tenantId);
    const key = `${p}u:${input.tenantId.length}:${input.tenantId}${input.userId}`;
    const first = Number(await redis.get(key));
    const firstExpiry = await redis.pexpiretime(key);
    expect(first).toBe(clock.now());
    expect(firstExpiry).toBe(clock.now() + 2 * HOUR);
    // an older revocation (another process with a slower clock) changes nothing
    const slow = new JwtSessionStore({
      secret,
      revocations: redisRevocations(redis, p),
      clock: () => clock.now() - 10_000,
      maxLifetimeMs: 2 * HOUR,
    });
    await slow.deleteByUser(input.userId, input.tenantId);
    expect(Number(await redis.get(key))).toBe(first);
    expect(await redis.pexpiretime(key)).toBe(firstExpiry);
    // without maxLifetimeMs the entry is kept for good
    await new JwtSessionStore({ secret, revocations: redisRevocations(redis, p), clock: clock.now }).deleteByUser(
      input.userId,
      input.tenantId,
    );
    expect(await redis.pttl(key)).toBe(-1);
  });

  it('keeps (tenant, user) pairs apart when naive concatenation would collide', async () => {
    const clock = new TestClock();
    const store = new JwtSessionStore({ secret, revocations: redisRevocations(redis, prefix()), clock: clock.now });
    const victim = record(clock, { tenantId: tenantId('ab'), userId: 'c' });
    const token = await store.create(victim);
    await store.deleteByUser('bc', tenantId('a')); // "a" + "bc" = "ab" + "c"
    expect((await store.get(token))?.userId).toBe('c');
  });

  it('a Redis that is down makes get reject STORAGE with the cause, never a session', async () => {
    const clock = new TestClock();
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const store = new JwtSessionStore({
      secret,
      revocations: redisRevocations(down, prefix()),
      clock: clock.now,
      operationTimeoutMs: 500,
    });
    const token = await store.create(record(clock));
    const error = await store.get(token).catch((e: unknown) => e);
    expect(SessionError.hasCode(error, 'STORAGE')).toBe(true);
    expect((error as SessionError).cause).toBeDefined();
    down.disconnect();
  });
});

describeSessionStore({
  name: 'JwtSessionStore (HS256, the README Redis RevocationStore)',
  create: ({ clock, maxLifetimeMs, maxRecordBytes }) =>
    new JwtSessionStore({
      secret,
      revocations: redisRevocations(redis, prefix()),
      clock,
      maxLifetimeMs,
      maxRecordBytes,
      maxTokenBytes: 128 * 1024,
    }),
  capabilities: { list: false, revoke: true, revokeUser: true, mutate: false, cleanup: true, customIds: false },
  runner: { describe, it },
});
