/**
 * The scripts that make keys: CREATE with its eviction (maxSessionsPerUser), CLAIM of a
 * caller-chosen id on Cluster, and SECRET (the tag secret every store on a prefix shares).
 */
import { CREATED_AT, EXPIRES_AT, luaRange } from '../layout.js';
import { type Helper, script } from './lua.js';

// maxSessionsPerUser: removes the soonest-expiring entries of ik (ties: earliest
// createdAt, then smallest id) until it holds max - 1, so that the session about to be
// added makes max. Entries whose record is gone or another user's are dropped first and
// the count taken again. Reads at most about 1000 records in that loop; if stale entries
// used that up, it drops the entries of lowest (score, member) instead, up to 500 (drop
// deletes a record only when it is this user's), so the bound holds whenever the user was
// at most 500 over it. At most about 2000 records read per call.
const EVICT: Helper = [
  'evict',
  `local function evict(ik, max, out)
  local budget = 500
  while budget > 0 do
    local need = redis.call('ZCARD', ik) - max + 1
    if need <= 0 then return end
    if need > budget then need = budget end
    local kth = redis.call('ZRANGE', ik, need - 1, need - 1, 'WITHSCORES')
    local cands = redis.call('ZRANGEBYSCORE', ik, '-inf', kth[2], 'LIMIT', 0, need + 500)
    budget = budget - #cands
    local live = {}
    local gone = 0
    for i = 1, #cands do
      local v = redis.call('GET', cands[i])
      if v and owned(v, ik) then
        local m = cands[i]
        live[#live + 1] = {tonumber(string.sub(v, ${luaRange(EXPIRES_AT)})), tonumber(string.sub(v, ${luaRange(CREATED_AT)})), string.sub(m, string.find(m, '}', 1, true) + 1), m}
      else
        redis.call('ZREM', ik, cands[i])
        gone = gone + 1
      end
    end
    if gone == 0 then
      table.sort(live, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        if a[2] ~= b[2] then return a[2] < b[2] end
        return id_lt(a[3], b[3])
      end)
      for i = 1, need do drop(ik, live[i][4], out) end
      return
    end
  end
  local rest = redis.call('ZCARD', ik) - max + 1
  if rest <= 0 then return end
  if rest > 500 then rest = 500 end
  local first = redis.call('ZRANGE', ik, 0, rest - 1)
  for i = 1, #first do drop(ik, first[i], out) end
end`,
];

/**
 * CREATE. KEYS: record, index. ARGV: deadline, record value, expiresAt, record PXAT,
 * now, retention, maxSessionsPerUser. Returns 'OK', {'OK', pointer value, pointer key,
 * ...} (pointers of evicted caller-chosen ids on Cluster, for the caller to drop),
 * 'C' (exists) or 'D' (deadline passed).
 *
 * Before writing, it prunes up to 64 entries past the retention window, then, when the
 * user already holds maxSessionsPerUser entries or more, evicts the soonest-expiring ones
 * (ties: earliest createdAt, then smallest id) so that the user holds exactly
 * maxSessionsPerUser with the new one; it reads at most about 2000 records (see evict).
 */
export const CREATE = script(
  'create',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'C' end
local ik = KEYS[2]
local old = redis.call('ZRANGEBYSCORE', ik, '-inf', num(tonumber(ARGV[5]) - tonumber(ARGV[6])), 'LIMIT', 0, 64)
for i = 1, #old do drop(ik, old[i], nil) end
local out = {'OK'}
evict(ik, tonumber(ARGV[7]), out)
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[4])
redis.call('ZADD', ik, ARGV[3], KEYS[1])
-- The index expires with its latest session: only ever later here (what was removed
-- expired no later than the new session, or is kept). GT leaves a key without expiry
-- alone, so NX covers a new key.
if redis.call('PEXPIREAT', ik, ARGV[4], 'GT') == 0 then redis.call('PEXPIREAT', ik, ARGV[4], 'NX') end
if #out == 1 then return 'OK' end
return out
`,
  [EVICT],
);

/**
 * The tag secret. KEYS: secret key. ARGV: a fresh random secret (kept only when none
 * exists), the earliest expiry (ms) the key must have. Returns {secret, its expiry (ms)}.
 * The key expires one day past the latest record expiry a write needed, never earlier.
 */
export const SECRET = script(
  'secret',
  `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local at = math.max(tonumber(ARGV[2]), server_now() + 86400000)
if redis.call('PEXPIREAT', KEYS[1], num(at), 'GT') == 0 then redis.call('PEXPIREAT', KEYS[1], num(at), 'NX') end
return {redis.call('GET', KEYS[1]), redis.call('PEXPIRETIME', KEYS[1])}
`,
);

/**
 * CLAIM of a caller-chosen id on Cluster. KEYS: record key of the id (direct layout),
 * pointer key. ARGV: deadline, new pointer target, pointer PXAT, lease ms, expected old
 * pointer value ('' = none may exist).
 * Returns {'OK', value}, 'C' (taken), 'D', or {'P', old value} (an old claim whose target
 * the caller must check before retrying with it as expected value).
 */
export const CLAIM = script(
  'claim',
  `
local now = server_now()
if now >= tonumber(ARGV[1]) then return 'D' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'C' end
local p = redis.call('GET', KEYS[2])
if p and p ~= ARGV[5] then
  local at = tonumber(string.match(p, '^(%d+) '))
  if at == nil or now < at + tonumber(ARGV[4]) then return 'C' end
  return {'P', p}
end
local value = num(now) .. ' ' .. ARGV[2]
redis.call('SET', KEYS[2], value, 'PXAT', ARGV[3])
return {'OK', value}
`,
);
