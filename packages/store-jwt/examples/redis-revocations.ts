import type { RevocationStore } from '@sessionkit/store-jwt';
import type { Redis } from 'ioredis';

const RETAIN_MS = 60 * 60_000; // keep denied tokens past expiry, so get says null, not EXPIRED
const REVOKE_USER = `
local existed = redis.call('EXISTS', KEYS[1]) == 1
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
if ARGV[2] == '' then return redis.call('PERSIST', KEYS[1]) end
local at = redis.call('PEXPIRETIME', KEYS[1])
if not existed or (at ~= -1 and tonumber(ARGV[2]) > at) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`;

/** Revocations shared by every process through one Redis (>= 7.0): Redis expires the entries. */
export function redisRevocations(redis: Redis, prefix = 'sessionkit:revoked:'): RevocationStore {
  // length-prefixed, so no (tenant, user) pair can spell another's key
  const userKey = (tenant: string, user: string) => `${prefix}u:${tenant.length}:${tenant}${user}`;
  return {
    async revokeToken(jti, expiresAt) {
      await redis.set(`${prefix}t:${jti}`, '1', 'PXAT', expiresAt + RETAIN_MS);
    },
    async revokeUser(tenant, user, revokedAt, keepUntil) {
      // keep the later time and the later expiry, atomically (PEXPIRETIME: Redis >= 7)
      await redis.eval(
        REVOKE_USER,
        1,
        userKey(tenant, user),
        String(revokedAt),
        keepUntil === undefined ? '' : String(keepUntil),
      );
    },
    async isRevoked(t) {
      const [denied, before] = await redis.mget(`${prefix}t:${t.jti}`, userKey(t.tenantId, t.userId));
      return denied !== null || (before !== null && t.signedAt <= Number(before));
    },
    async cleanupExpired() {
      return 0; // Redis expires the keys itself
    },
  };
}
