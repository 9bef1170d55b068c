import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the store. Every script touches keys of one hash slot only (the
 * record, the user index and the records it lists share the `{tag}` of one
 * (tenant, user); a pointer key shares the tag of its id), so they run on Redis Cluster
 * without CROSSSLOT errors.
 *
 * A record is one string (see ./record.ts): a fixed header of expiresAt,
 * lastActivityAt and createdAt (17 characters each, at offsets 0, 18 and 36), core's JSON
 * of the record from offset 54, then `\n` and the meta fields (index key, pointer value,
 * pointer key) separated by `\t`. touch and extend patch the header in place (SETRANGE);
 * get is one GET. The index is a sorted set of record keys scored by expiresAt.
 *
 * Write scripts take a deadline (Redis time, ms) as ARGV[1] and do nothing once it has
 * come, so a write whose operation already rejected (timed out) never takes effect later.
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
  ['pad', `local function pad(n) return string.format('%-17s', string.format('%.0f', n)) end`],
  [
    'meta',
    `local function meta(v)
  local nl = string.find(v, '\\n', 55, true)
  local m = string.sub(v, nl + 1)
  local t1 = string.find(m, '\\t', 1, true)
  local t2 = string.find(m, '\\t', t1 + 1, true)
  return string.sub(m, 1, t1 - 1), string.sub(m, t1 + 1, t2 - 1), string.sub(m, t2 + 1), string.sub(v, 1, nl), m
end`,
  ],
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
  // A record belongs to an index when its meta names that index key: the key spells out
  // (tenant, user), so a record key that now holds another user's record (a caller-chosen
  // id that expired and was reused) is never acted on through the first user's index.
  [
    'owned',
    `local function owned(v, ik)
  local nl = string.find(v, '\\n', 55, true)
  if not nl then return false end
  local t1 = string.find(v, '\\t', nl + 1, true)
  return t1 ~= nil and string.sub(v, nl + 1, t1 - 1) == ik
end`,
  ],
  // Removes member m from index ik, and its record when the record belongs to ik (appending
  // its Cluster pointer to out when there is one). Returns the record's value when it did.
  [
    'drop',
    `local function drop(ik, m, out)
  local v = redis.call('GET', m)
  redis.call('ZREM', ik, m)
  if not (v and owned(v, ik)) then return nil end
  redis.call('DEL', m)
  if out then
    local _, p, q = meta(v)
    if p ~= '' then
      out[#out + 1] = p
      out[#out + 1] = q
    end
  end
  return v
end`,
  ],
  [
    'id_lt',
    `local function id_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end`,
  ],
  // maxSessionsPerUser: removes the soonest-expiring entries of ik (ties: earliest
  // createdAt, then smallest id) until it holds max - 1, so that the session about to be
  // added makes max. Entries whose record is gone or another user's are dropped first and
  // the count taken again. Reads at most about 1000 records in that loop; if stale entries
  // used that up, it drops the entries of lowest (score, member) instead, up to 500 (drop
  // deletes a record only when it is this user's), so the bound holds whenever the user was
  // at most 500 over it. At most about 2000 records read per call.
  [
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
        live[#live + 1] = {tonumber(string.sub(v, 1, 17)), tonumber(string.sub(v, 37, 53)), string.sub(m, string.find(m, '}', 1, true) + 1), m}
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
  ],
];

/** A script: its source and SHA1 (for EVALSHA). */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): Script {
  // The helpers the body calls, and the helpers those call (each defined before its users).
  let text = body;
  const used = new Set<string>();
  for (let i = HELPERS.length - 1; i >= 0; i--) {
    const [helper, code] = HELPERS[i] as [string, string];
    if (text.includes(`${helper}(`)) {
      used.add(helper);
      text += code;
    }
  }
  const source = `${HELPERS.filter(([helper]) => used.has(helper))
    .map(([, code]) => code)
    .join('\n')}\n${body.trim()}\n`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

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
);

/** GET through a pointer (Cluster). KEYS: record, pointer. Returns the value, {'P', p} or nil. */
export const GET = script(
  'get',
  `
local v = redis.call('GET', KEYS[1])
if v then return v end
return pointer_or(false, nil)
`,
);

/**
 * TOUCH. KEYS: record, pointer. ARGV: deadline, now padded to 17 characters (Lua's
 * tonumber ignores the trailing spaces). Returns 'OK', 'N', 'X', 'D' or {'P', p}.
 * The hottest write: written out without helpers (a helper is a closure made on every
 * call) and with one argument fewer.
 */
export const TOUCH = script(
  'touch',
  `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(ARGV[1]) then return 'D' end
local e = redis.call('GETRANGE', KEYS[1], 0, 16)
if e == '' then
  if not KEYS[2] then return 'N' end
  local p = redis.call('GET', KEYS[2])
  if not p then return 'N' end
  return {'P', p}
end
if tonumber(e) <= tonumber(ARGV[2]) then return 'X' end
redis.call('SETRANGE', KEYS[1], 18, ARGV[2])
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
local v = redis.call('GET', KEYS[1])
if not v then return pointer_or('N', ARGV[6]) end
local now = tonumber(ARGV[2])
if tonumber(string.sub(v, 1, 17)) <= now then return 'X' end
local e = now + tonumber(ARGV[3])
local life = tonumber(ARGV[4])
if life >= 0 then e = math.min(e, tonumber(string.sub(v, 37, 53)) + life) end
local ret = tonumber(ARGV[5])
local ik = meta(v)
redis.call('SETRANGE', KEYS[1], 0, pad(e) .. ' ' .. pad(now))
redis.call('PEXPIREAT', KEYS[1], num(e + ret))
redis.call('ZADD', ik, num(e), KEYS[1])
fix_index(ik, ret)
return 'OK'
`,
);

/**
 * UPDATE. KEYS: record, pointer. ARGV: deadline, now, new value without meta, expiresAt,
 * createdAt, index key of the new record, retention, record PXAT.
 * Returns 'OK', 'N', 'X', 'D', {'P', p} or {'I', stored value} (immutable field changed).
 */
export const UPDATE = script(
  'update',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local v = redis.call('GET', KEYS[1])
if not v then return pointer_or('N', ARGV[8]) end
if tonumber(string.sub(v, 1, 17)) <= tonumber(ARGV[2]) then return 'X' end
local ik, p, q, head, m = meta(v)
if ik ~= ARGV[6] or tonumber(string.sub(v, 37, 53)) ~= tonumber(ARGV[5]) then return {'I', v} end
redis.call('SET', KEYS[1], ARGV[3] .. '\\n' .. m, 'PXAT', ARGV[8])
redis.call('ZADD', ik, ARGV[4], KEYS[1])
fix_index(ik, tonumber(ARGV[7]))
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
local v = redis.call('GET', KEYS[1])
if not v then return pointer_or('N', nil) end
local ik, p, q = meta(v)
redis.call('DEL', KEYS[1])
redis.call('ZREM', ik, KEYS[1])
fix_index(ik, tonumber(ARGV[2]))
return {'OK', p, q}
`,
);

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
  if v and tonumber(string.sub(v, 1, 17)) > now then out[1] = out[1] + 1 end
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
  local e = v and tonumber(string.sub(v, 1, 17))
  if e and e > now then
    redis.call('ZADD', KEYS[1], num(e), expired[i])
  else
    if v then
      redis.call('DEL', expired[i])
      out[1] = out[1] + 1
      local ik, p, q = meta(v)
      if p ~= '' then
        out[#out + 1] = p
        out[#out + 1] = q
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

/** Drops a pointer when it still holds the given value. KEYS: pointer. ARGV: value. */
export const DROP_POINTER = script(
  'dropPointer',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`,
);
