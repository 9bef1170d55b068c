// The README's Redis RevocationStore (examples/redis-revocations.ts), run against a real
// Redis: REDIS_URL when set, else a throwaway server started here (the test fails with the
// reason when it cannot start one).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SessionError, tenantId } from '@sessionkit/core';
import { describeSessionStore } from '@sessionkit/core/testing';
import type { RedisServer } from '@sessionkit/test-servers';
import { startRedis } from '@sessionkit/test-servers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('cleanupExpired drops the entries of expired tokens, in batches, and counts them', async () => {
    const clock = new TestClock();
    const p = prefix();
    const store = new JwtSessionStore({ secret, revocations: redisRevocations(redis, p), clock: clock.now });
    const short = await store.create(record(clock, { expiresAt: new Date(clock.now() + 1000) }));
    const long = await store.create(record(clock));
    await store.delete(short);
    await store.delete(long);
    // 1200 more entries (over two batches of 500), written straight through the RevocationStore
    const revocations = redisRevocations(redis, p);
    for (let i = 0; i < 1200; i++) await revocations.revokeToken(`bulk-${i}`, clock.now() + 500, clock.now());
    expect(await redis.zcard(`${p}tokens`)).toBe(1202);
    expect(await store.cleanupExpired()).toBe(0); // nothing has expired yet
    expect(await store.get(short)).toBeNull();

    clock.advance(1000);
    expect(await store.cleanupExpired()).toBe(1201); // the bulk entries and the short token's
    expect(await redis.zcard(`${p}tokens`)).toBe(1);
    expect(await redis.exists(`${p}t:bulk-0`, `${p}t:bulk-1199`)).toBe(0);
    // dropped: the short token reads as what it is, a valid signature past its expiry
    await expect(store.get(short)).rejects.toSatisfy((e) => SessionError.hasCode(e, 'EXPIRED'));
    expect(await store.get(long)).toBeNull(); // still denied
    expect(await store.cleanupExpired()).toBe(0);
  });

  it('cleanupExpired drops user entries past their keepUntil; entries kept indefinitely stay', async () => {
    const clock = new TestClock();
    const p = prefix();
    const bounded = new JwtSessionStore({
      secret,
      revocations: redisRevocations(redis, p),
      clock: clock.now,
      maxLifetimeMs: HOUR,
    });
    const unbounded = new JwtSessionStore({ secret, revocations: redisRevocations(redis, p), clock: clock.now });
    const a = record(clock);
    const b = record(clock);
    await bounded.deleteByUser(a.userId, a.tenantId);
    await unbounded.deleteByUser(b.userId, b.tenantId);
    const keyOf = (r: typeof a) => `${p}u:${r.tenantId.length}:${r.tenantId}${r.userId}`;
    clock.advance(HOUR - 1);
    await bounded.cleanupExpired();
    expect(await redis.exists(keyOf(a), keyOf(b))).toBe(2);
    clock.advance(1);
    expect(await bounded.cleanupExpired()).toBe(0); // counts token entries only
    expect(await redis.exists(keyOf(a))).toBe(0);
    expect(await redis.exists(keyOf(b))).toBe(1);
    expect(await redis.zcard(`${p}users`)).toBe(0);
  });

  it('every write unlists a few index members whose entries expired long ago, so the index stays small', async () => {
    const clock = new TestClock();
    const p = prefix();
    const revocations = redisRevocations(redis, p);
    for (let i = 0; i < 25; i++) await revocations.revokeToken(`old-${i}`, clock.now() + 1, clock.now());
    clock.advance(2 * HOUR);
    await revocations.revokeToken('new-0', clock.now() + HOUR, clock.now());
    expect(await redis.zcard(`${p}tokens`)).toBe(25 - 10 + 1); // 10 unlisted per write
    await revocations.revokeToken('new-1', clock.now() + HOUR, clock.now());
    expect(await redis.zcard(`${p}tokens`)).toBe(25 - 20 + 2);
    await revocations.revokeToken('new-2', clock.now() + HOUR, clock.now());
    expect(await redis.zrange(`${p}tokens`, '0', '-1')).toEqual(['new-0', 'new-1', 'new-2']);
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
  stateless: true,
  runner: { describe, it },
});
