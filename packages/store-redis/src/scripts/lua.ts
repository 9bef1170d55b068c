/**
 * How a script is assembled: the Lua helper functions the scripts share, and `script()`,
 * which puts in front of a script body the helpers it calls. The record offsets in the
 * helpers come from ../layout.ts.
 */
import { createHash } from 'node:crypto';
import { JSON_OFFSET, TIME_WIDTH } from '../layout.js';

/** A Lua helper function: its name (how a body calls it) and its source. */
export type Helper = readonly [name: string, source: string];

/** Where the search for the `\n` that ends a record's JSON starts (Lua, 1-based). */
const AFTER_JSON = JSON_OFFSET + 1;

// Helpers, each included only in the scripts that use it (a script defines them on every call).
const HELPERS: Helper[] = [
  [
    'server_now',
    `local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end`,
  ],
  ['num', `local function num(n) return string.format('%.0f', n) end`],
  ['pad', `local function pad(n) return string.format('%-${TIME_WIDTH}s', string.format('%.0f', n)) end`],
  [
    'meta',
    `local function meta(v)
  local nl = string.find(v, '\\n', ${AFTER_JSON}, true)
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
  local nl = string.find(v, '\\n', ${AFTER_JSON}, true)
  if not nl then return false end
  local t1 = string.find(v, '\\t', nl + 1, true)
  return t1 ~= nil and string.sub(v, nl + 1, t1 - 1) == ik
end`,
  ],
  // Appends the Cluster pointer (value, key) of record value v to out, when it has one: the
  // caller drops it once the record is gone.
  [
    'add_pointer',
    `local function add_pointer(v, out)
  local _, p, q = meta(v)
  if p ~= '' then
    out[#out + 1] = p
    out[#out + 1] = q
  end
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
  if out then add_pointer(v, out) end
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
];

/** A script: its source and SHA1 (for EVALSHA). */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/**
 * A script of `body` and the helpers it calls, and the helpers those call (each defined
 * before its users). `own` are helpers of this script group, defined after the shared ones
 * (they may call those).
 */
export function script(name: string, body: string, own: readonly Helper[] = []): Script {
  const helpers = [...HELPERS, ...own];
  let text = body;
  const used = new Set<string>();
  for (let i = helpers.length - 1; i >= 0; i--) {
    const [helper, code] = helpers[i] as Helper;
    if (text.includes(`${helper}(`)) {
      used.add(helper);
      text += code;
    }
  }
  const source = `${helpers
    .filter(([helper]) => used.has(helper))
    .map(([, code]) => code)
    .join('\n')}\n${body.trim()}\n`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}
