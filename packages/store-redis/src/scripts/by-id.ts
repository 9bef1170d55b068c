/**
 * The scripts that act on one session by id: GET (through a Cluster pointer), TOUCH,
 * EXTEND, UPDATE, DELETE, and DROP_POINTER. The header offsets come from ../layout.ts.
 */
import { CREATED_AT, EXPIRES_AT, LAST_ACTIVITY_AT, luaRange, TIME_WIDTH } from '../layout.js';
import { script } from './lua.js';

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
 * TOUCH. KEYS: record, pointer. ARGV: deadline, now padded to TIME_WIDTH characters
 * (Lua's tonumber ignores the trailing spaces). Returns 'OK', 'N', 'X', 'D' or {'P', p}.
 * The hottest write: written out without helpers (a helper is a closure made on every
 * call) and with one argument fewer.
 */
export const TOUCH = script(
  'touch',
  `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(ARGV[1]) then return 'D' end
local e = redis.call('GETRANGE', KEYS[1], ${EXPIRES_AT}, ${EXPIRES_AT + TIME_WIDTH - 1})
if e == '' then
  if not KEYS[2] then return 'N' end
  local p = redis.call('GET', KEYS[2])
  if not p then return 'N' end
  return {'P', p}
end
if tonumber(e) <= tonumber(ARGV[2]) then return 'X' end
redis.call('SETRANGE', KEYS[1], ${LAST_ACTIVITY_AT}, ARGV[2])
return 'OK'
`,
);

/**
 * EXTEND. KEYS: record, pointer. ARGV: deadline, now, durationMs, maxLifetimeMs (-1 =
 * none), retention, pointer PXAT bound. Returns 'OK', 'N', 'X', 'D' or {'P', p}.
 * It writes expiresAt and lastActivityAt (which follows it) in one SETRANGE.
 */
export const EXTEND = script(
  'extend',
  `
if server_now() >= tonumber(ARGV[1]) then return 'D' end
local v = redis.call('GET', KEYS[1])
if not v then return pointer_or('N', ARGV[6]) end
local now = tonumber(ARGV[2])
if tonumber(string.sub(v, ${luaRange(EXPIRES_AT)})) <= now then return 'X' end
local e = now + tonumber(ARGV[3])
local life = tonumber(ARGV[4])
if life >= 0 then e = math.min(e, tonumber(string.sub(v, ${luaRange(CREATED_AT)})) + life) end
local ret = tonumber(ARGV[5])
local ik = meta(v)
redis.call('SETRANGE', KEYS[1], ${EXPIRES_AT}, pad(e) .. ' ' .. pad(now))
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
if tonumber(string.sub(v, ${luaRange(EXPIRES_AT)})) <= tonumber(ARGV[2]) then return 'X' end
local ik, p, q, head, m = meta(v)
if ik ~= ARGV[6] or tonumber(string.sub(v, ${luaRange(CREATED_AT)})) ~= tonumber(ARGV[5]) then return {'I', v} end
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

/** Drops a pointer when it still holds the given value. KEYS: pointer. ARGV: value. */
export const DROP_POINTER = script(
  'dropPointer',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`,
);
