--[[
  Live limit change. It applies to the very next INVITE on every switch, since admit reads these values
  from the account hash. A lowered burst also caps the tokens already in the bucket.

  KEYS[1] account hash
  ARGV[1] channels ('' keeps)   ARGV[2] cps ('' keeps)   ARGV[3] burst ('' keeps)   ARGV[4] updatedAt (ISO 8601)

  Returns { 1, channels, cps, burst } or { -1 } for an unknown account
]]
--- @include "common"

local a = loadAccount(KEYS[1])
if not a then return { -1 } end
if ARGV[1] ~= '' then a.channels = tonumber(ARGV[1]) end
if ARGV[2] ~= '' then a.cps = tonumber(ARGV[2]) end
if ARGV[3] ~= '' then a.burst = tonumber(ARGV[3]) end
if a.tokens and a.tokens > a.burst then a.tokens = a.burst end
redis.call('HSET', KEYS[1], 'limits',
  table.concat({ a.type, int(a.creditLimit), int(a.channels), int(a.cps), int(a.burst), int(a.low) }, '|'),
  'state', formatState(a), 'updatedAt', ARGV[4])
return { 1, int(a.channels), int(a.cps), int(a.burst) }
