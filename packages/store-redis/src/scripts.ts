import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the store. Every script touches keys of one hash slot only (the
 * record, the user index and the records it lists share the `{tag}` of one
 * (tenant, user); a pointer key shares the tag of its id), so they run on Redis Cluster
 * without CROSSSLOT errors.
 *
 * Record hash fields: r = core's JSON encoding as created or last updated, e = expiresAt
 * (ms, authoritative), a = lastActivityAt (ms, authoritative), c = createdAt (ms),
 * u = the user index key, p/q = pointer value/key (Cluster, caller-chosen ids only).
 * Index: a sorted set of record keys scored by expiresAt.
 *
 * Write scripts take a deadline (server time, ms) as ARGV[1] and do nothing when it has
 * passed, so a write whose operation already rejected (timed out) never takes effect later.
 */

// Helpers, each included only in the scripts that use it (a script defines them on every call).
const HELPERS: [name: string, source: string][] = [
  [
    'server_now',
    `local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end`,
  ],
  ['num', `local function num(n) return string.format('%.0f', n) end`],
  [
    'fix_index',
    `local function fix_index(ik, ret)
  local top = redis.call('ZRANGE', ik, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIREAT', ik, num(tonumber(top[2]) + ret))
  else
    redis.call('DEL', ik)
  end
end`,
  ],
  // By-id scripts get KEYS[1] = record key and, on Cluster, KEYS[2] = the id's pointer key.
  // When the record is missing and a pointer exists they return {'P', pointer}, and the
  // caller repeats the call on the pointer's target (with that key only).
  [
    'pointer_or',
    `local function pointer_or(missing, bump)
  if not KEYS[2] then return missing end
  local p = redis.call('GET', KEYS[2])
  if not p then return missing end
  if bump and bump ~= '' then redis.call('PEXPIREAT', KEYS[2], bump, 'GT') end
  return {'P', p}
end`,
  ],
];

/** A script: its source and SHA1 (for EVALSHA). */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): Script {
  const used = HELPERS.filter(([helper]) => body.includes(`${helper}(`) || (helper === 'num' && body.includes('fix_index(')));
  const source = `${used.map(([, code]) => code).join('\n')}\n${body.trim()}\n`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * CREATE. KEYS: record, index. ARGV: deadline, json, expiresAt, lastActivityAt,
 * createdAt, record PXAT, now, retention, pointer value ('' = none), pointer key.
 * Returns 'OK', 'C' (exists) or 'D' (deadline passed).
 */
export const CREATE = script(
  'create',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'C' end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'r', ARGV[2], 'e', ARGV[3], 'a', ARGV[4], 'c', ARGV[5], 'u', KEYS[2], 'p', ARGV[9], 'q', ARGV[10])
else
  redis.call('HSET', KEYS[1], 'r', ARGV[2], 'e', ARGV[3], 'a', ARGV[4], 'c', ARGV[5], 'u', KEYS[2])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
local ret = tonumber(ARGV[8])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', num(tonumber(ARGV[7]) - ret), 'LIMIT', 0, 64)
for i = 1, #old do
  redis.call('DEL', old[i])
  redis.call('ZREM', KEYS[2], old[i])
end
-- The index expires with its latest session: only ever later here (what was pruned was
-- older than the new session). GT leaves a key without expiry alone, so NX covers a new key.
if redis.call('PEXPIREAT', KEYS[2], ARGV[6], 'GT') == 0 then redis.call('PEXPIREAT', KEYS[2], ARGV[6], 'NX') end
return 'OK'
`,
);

/** GET through a pointer (Cluster). KEYS: record, pointer. Returns {r, e, a}, {'P', p} or nil. */
export const GET = script(
  'get',
  `
local v = redis.call('HMGET', KEYS[1], 'r', 'e', 'a')
if v[1] then return v end
return pointer_or(false, nil)
`,
);

/** TOUCH. KEYS: record, pointer. ARGV: deadline, now. Returns 'OK', 'N', 'X', 'D' or {'P', p}. */
export const TOUCH = script(
  'touch',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return pointer_or('N', nil) end
if tonumber(e) <= tonumber(ARGV[2]) then return 'X' end
redis.call('HSET', KEYS[1], 'a', ARGV[2])
return 'OK'
`,
);

/**
 * EXTEND. KEYS: record, pointer. ARGV: deadline, now, durationMs, maxLifetimeMs (-1 =
 * none), retention, pointer PXAT bound. Returns 'OK', 'N', 'X', 'D' or {'P', p}.
 */
export const EXTEND = script(
  'extend',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local v = redis.call('HMGET', KEYS[1], 'e', 'c', 'u')
if not v[1] then return pointer_or('N', ARGV[6]) end
local now = tonumber(ARGV[2])
if tonumber(v[1]) <= now then return 'X' end
local e = now + tonumber(ARGV[3])
local life = tonumber(ARGV[4])
if life >= 0 then e = math.min(e, tonumber(v[2]) + life) end
local ret = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'e', num(e), 'a', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], num(e + ret))
redis.call('ZADD', v[3], num(e), KEYS[1])
fix_index(v[3], ret)
return 'OK'
`,
);

/**
 * UPDATE. KEYS: record, pointer. ARGV: deadline, now, json, expiresAt, lastActivityAt,
 * createdAt, index key of the new record, retention, record PXAT.
 * Returns 'OK', 'N', 'X', 'D', {'P', p} or {'I', stored json} (immutable field changed).
 */
export const UPDATE = script(
  'update',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local v = redis.call('HMGET', KEYS[1], 'e', 'c', 'u', 'r')
if not v[1] then return pointer_or('N', ARGV[9]) end
if tonumber(v[1]) <= tonumber(ARGV[2]) then return 'X' end
if v[3] ~= ARGV[7] or v[2] ~= ARGV[6] then return {'I', v[4]} end
redis.call('HSET', KEYS[1], 'r', ARGV[3], 'e', ARGV[4], 'a', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('ZADD', v[3], ARGV[4], KEYS[1])
fix_index(v[3], tonumber(ARGV[8]))
return 'OK'
`,
);

/**
 * DELETE. KEYS: record, pointer. ARGV: deadline, retention.
 * Returns {'OK', pointer value, pointer key} (empty strings when none), 'N', 'D' or {'P', p}.
 */
export const DELETE = script(
  'delete',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local v = redis.call('HMGET', KEYS[1], 'u', 'p', 'q')
if not v[1] then return pointer_or('N', nil) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', v[1], KEYS[1])
fix_index(v[1], tonumber(ARGV[2]))
return {'OK', v[2] or '', v[3] or ''}
`,
);

/**
 * DELETE_USER. KEYS: index. ARGV: deadline, now.
 * Returns {count of unexpired removed, pointer value, pointer key, ...} or 'D'.
 */
export const DELETE_USER = script(
  'deleteByUser',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local now = tonumber(ARGV[2])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {0}
for i = 1, #members do
  local v = redis.call('HMGET', members[i], 'e', 'p', 'q')
  if v[1] then
    redis.call('DEL', members[i])
    if tonumber(v[1]) > now then out[1] = out[1] + 1 end
    if v[2] then
      out[#out + 1] = v[2]
      out[#out + 1] = v[3]
    end
  end
end
redis.call('DEL', KEYS[1])
return out
`,
);

/**
 * LIST. KEYS: index. ARGV: now, retention. Returns {json, expiresAt, lastActivityAt, ...}
 * for every unexpired session; prunes entries past the retention window (with their
 * records) and entries whose record is gone.
 */
export const LIST = script(
  'listByUser',
  `
local now = tonumber(ARGV[1])
local ret = tonumber(ARGV[2])
local changed = false
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', num(now - ret), 'LIMIT', 0, 256)
for i = 1, #old do
  redis.call('DEL', old[i])
  redis.call('ZREM', KEYS[1], old[i])
  changed = true
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. num(now), '+inf')
local out = {}
for i = 1, #live do
  local v = redis.call('HMGET', live[i], 'r', 'e', 'a')
  if v[1] then
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
    out[#out + 1] = v[3]
  else
    redis.call('ZREM', KEYS[1], live[i])
    changed = true
  end
end
if changed then fix_index(KEYS[1], ret) end
return out
`,
);

/**
 * CLEANUP of one index key, one batch. KEYS: index. ARGV: now, retention, batch size,
 * offset into the unexpired entries (checked for dangling records).
 * Returns {records removed, expired entries seen, next offset or -1 when done, pointer value, key, ...}.
 */
export const CLEANUP = script(
  'cleanupExpired',
  `
local now = tonumber(ARGV[1])
local ret = tonumber(ARGV[2])
local batch = tonumber(ARGV[3])
local offset = tonumber(ARGV[4])
local out = {0, 0, -1}
local changed = false
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', num(now), 'LIMIT', 0, batch)
out[2] = #expired
for i = 1, #expired do
  local v = redis.call('HMGET', expired[i], 'e', 'p', 'q')
  if v[1] and tonumber(v[1]) > now then
    redis.call('ZADD', KEYS[1], v[1], expired[i])
  else
    if v[1] then
      redis.call('DEL', expired[i])
      out[1] = out[1] + 1
      if v[2] then
        out[#out + 1] = v[2]
        out[#out + 1] = v[3]
      end
    end
    redis.call('ZREM', KEYS[1], expired[i])
  end
  changed = true
end
if #expired < batch then
  local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. num(now), '+inf', 'LIMIT', offset, batch)
  local kept = 0
  for i = 1, #live do
    if redis.call('EXISTS', live[i]) == 0 then
      redis.call('ZREM', KEYS[1], live[i])
      changed = true
    else
      kept = kept + 1
    end
  end
  if #live == batch then out[3] = offset + kept end
else
  out[3] = offset
end
if changed then fix_index(KEYS[1], ret) end
return out
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

/** Drops a pointer when it still holds the given value. KEYS: pointer. ARGV: value. */
export const DROP_POINTER = script(
  'dropPointer',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`,
);
