/**
 * The scripts that walk a user's index: DELETE_USER and LIST (one page each) and CLEANUP
 * (one batch of one index key). The header offsets come from ../layout.ts.
 */
import { EXPIRES_AT, luaRange } from '../layout.js';
import { script } from './lua.js';

/**
 * DELETE_USER, one page. KEYS: index. ARGV: deadline, now, page size, retention.
 * Returns {count of unexpired removed, 1 when the index still holds entries (call
 * again) else 0, pointer value, pointer key, ...} or 'D'. Removes the page's entries;
 * deletes a record only when it belongs to this index (its meta names this index key).
 */
export const DELETE_USER = script(
  'deleteByUser',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local now = tonumber(ARGV[2])
local page = tonumber(ARGV[3])
local members = redis.call('ZRANGE', KEYS[1], 0, page - 1)
local out = {0, 0}
for i = 1, #members do
  local v = drop(KEYS[1], members[i], out)
  if v and tonumber(string.sub(v, ${luaRange(EXPIRES_AT)})) > now then out[1] = out[1] + 1 end
end
if #members == page and redis.call('EXISTS', KEYS[1]) == 1 then
  out[2] = 1
  fix_index(KEYS[1], tonumber(ARGV[4]))
end
return out
`,
);

/**
 * LIST, one page. KEYS: index. ARGV: deadline, now, retention, page size, and the score
 * and member of the last entry the previous page read ('' for the first page). Returns
 * {score, member of the last entry read (or -1 when done), value, value, ...}: the value
 * of every unexpired session of the page that belongs to this index. Pages follow
 * (score, member) order from where the previous one stopped (keyset, not an offset), so
 * entries removed between two calls never shift a live one out of view. Until the
 * deadline, it also prunes up to 64 entries past the retention window (with their
 * records), entries whose record is gone, and entries whose key now holds another user's
 * record; once the deadline has passed it only reads.
 */
export const LIST = script(
  'listByUser',
  `
local ik = KEYS[1]
local prune = server_now() < tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local ret = tonumber(ARGV[3])
local page = tonumber(ARGV[4])
local changed = false
if prune then
  local old = redis.call('ZRANGEBYSCORE', ik, '-inf', num(now - ret), 'LIMIT', 0, 64)
  for i = 1, #old do
    drop(ik, old[i], nil)
    changed = true
  end
end
-- The first rank past every expired entry and past (score, member) of the last page.
local start = redis.call('ZCOUNT', ik, '-inf', num(now))
if ARGV[6] ~= '' then
  local s, m = ARGV[5], ARGV[6]
  local cur = redis.call('ZSCORE', ik, m)
  local after
  if cur and tonumber(cur) == tonumber(s) then
    after = redis.call('ZRANK', ik, m) + 1
  else
    -- Where (s, m) would sit: m placed there for the moment, then put back as it was.
    redis.call('ZADD', ik, s, m)
    after = redis.call('ZRANK', ik, m)
    if cur then
      redis.call('ZADD', ik, cur, m)
      if tonumber(cur) < tonumber(s) then after = after + 1 end
    else
      redis.call('ZREM', ik, m)
    end
  end
  if after > start then start = after end
end
local live = redis.call('ZRANGE', ik, start, start + page - 1, 'WITHSCORES')
local out = {-1, ''}
for i = 1, #live, 2 do
  local v = redis.call('GET', live[i])
  if v and owned(v, ik) then
    out[#out + 1] = v
  elseif prune then
    redis.call('ZREM', ik, live[i])
    changed = true
  end
end
if #live == 2 * page then
  out[1] = live[#live]
  out[2] = live[#live - 1]
end
if changed then fix_index(ik, ret) end
return out
`,
);

/**
 * CLEANUP of one index key, one batch. KEYS: index. ARGV: now, retention, batch size,
 * offset into the unexpired entries (checked for dangling records).
 * Returns {records removed, expired entries seen, next offset or -1 when done, pointer value, key, ...}.
 * An entry whose key holds another user's record is dropped: never re-scored, never deleted.
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
  local v = redis.call('GET', expired[i])
  if v and not owned(v, KEYS[1]) then v = nil end
  local e = v and tonumber(string.sub(v, ${luaRange(EXPIRES_AT)}))
  if e and e > now then
    redis.call('ZADD', KEYS[1], num(e), expired[i])
  else
    if v then
      redis.call('DEL', expired[i])
      out[1] = out[1] + 1
      add_pointer(v, out)
    end
    redis.call('ZREM', KEYS[1], expired[i])
  end
  changed = true
end
if #expired < batch then
  local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. num(now), '+inf', 'LIMIT', offset, batch)
  local kept = 0
  for i = 1, #live do
    local v = redis.call('GET', live[i])
    if v and owned(v, KEYS[1]) then
      kept = kept + 1
    else
      redis.call('ZREM', KEYS[1], live[i])
      changed = true
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
