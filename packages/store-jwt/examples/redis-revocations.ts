import type { RevocationStore } from '@sessionkit/store-jwt';
import type { Redis } from 'ioredis';

const RETAIN_MS = 60 * 60_000; // Redis drops a denied token's entry this long after it expires
const BATCH = 500; // entries per cleanup call: no single script works on an unbounded number

// Each write also unlists up to 10 index members whose entries Redis has expired by now
// (ZREM only), so an index stays small even when nobody runs cleanupExpired.

// KEYS: token entry, token index. ARGV: jti, expiresAt, expiresAt + RETAIN_MS, now - RETAIN_MS.
const REVOKE_TOKEN = `
local at = tonumber(ARGV[3])
if redis.call('PEXPIRETIME', KEYS[1]) < at then redis.call('SET', KEYS[1], '1', 'PXAT', at) end
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < at then redis.call('PEXPIREAT', KEYS[2], at) end
local stale = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[4], 'BYSCORE', 'LIMIT', 0, 10)
if #stale > 0 then redis.call('ZREM', KEYS[2], unpack(stale)) end
return 1`;

// KEYS: user entry, user index. ARGV: revokedAt, keepUntil ('' = keep indefinitely), revokedAt - RETAIN_MS.
const REVOKE_USER = `
local stale = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[3], 'BYSCORE', 'LIMIT', 0, 10)
if #stale > 0 then redis.call('ZREM', KEYS[2], unpack(stale)) end
local existed = redis.call('EXISTS', KEYS[1]) == 1
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return redis.call('PERSIST', KEYS[1])
end
local at = redis.call('PEXPIRETIME', KEYS[1])
if not existed or (at ~= -1 and tonumber(ARGV[2]) > at) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
  if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[2], ARGV[2]) end
end
return 1`;

// KEYS: token index, user index. ARGV: now, BATCH, token key prefix.
// Returns { token entries deleted, index members handled }.
const CLEANUP = `
local removed = 0
local jtis = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, jti in ipairs(jtis) do removed = removed + redis.call('DEL', ARGV[3] .. jti) end
if #jtis > 0 then redis.call('ZREM', KEYS[1], unpack(jtis)) end
local users = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #users > 0 then
  redis.call('DEL', unpack(users))
  redis.call('ZREM', KEYS[2], unpack(users))
end
return { removed, #jtis + #users }`;

/**
 * Revocations shared by every process through one Redis (>= 7.0; not Cluster: the
 * scripts touch keys they compute). Redis expires every entry by itself; the two sorted
 * sets index entries by expiry so that cleanupExpired can drop them once expired.
 */
export function redisRevocations(redis: Redis, prefix = 'sessionkit:revoked:'): RevocationStore {
  // length-prefixed, so no (tenant, user) pair can spell another's key
  const userKey = (tenant: string, user: string) => `${prefix}u:${tenant.length}:${tenant}${user}`;
  const tokenIndex = `${prefix}tokens`;
  const userIndex = `${prefix}users`;
  return {
    async revokeToken(jti, expiresAt, now) {
      await redis.eval(
        REVOKE_TOKEN,
        2,
        `${prefix}t:${jti}`,
        tokenIndex,
        jti,
        String(expiresAt),
        String(expiresAt + RETAIN_MS),
        String(now - RETAIN_MS),
      );
    },
    async revokeUser(tenant, user, revokedAt, keepUntil) {
      // keep the later time and the later expiry, atomically (PEXPIRETIME: Redis >= 7)
      await redis.eval(
        REVOKE_USER,
        2,
        userKey(tenant, user),
        userIndex,
        String(revokedAt),
        keepUntil === undefined ? '' : String(keepUntil),
        String(revokedAt - RETAIN_MS),
      );
    },
    async isRevoked(t) {
      const [denied, before] = await redis.mget(`${prefix}t:${t.jti}`, userKey(t.tenantId, t.userId));
      return denied !== null || (before !== null && t.signedAt <= Number(before));
    },
    async cleanupExpired(now) {
      let removed = 0;
      for (;;) {
        const [deleted, handled] = (await redis.eval(
          CLEANUP,
          2,
          tokenIndex,
          userIndex,
          String(now),
          String(BATCH),
          `${prefix}t:`,
        )) as [number, number];
        removed += deleted;
        if (handled < BATCH) return removed;
      }
    },
  };
}
