--[[
  Writes an account's traffic settings (validated and merged beforehand by src/traffic), clears its
  "suspension recommended" mark, or lifts fraud blocks. Settings and blocks live in the account hash
  (fields traffic and fraudBlocks), where every instance's directory reads them; a change is announced on
  the change channel (traffic|<account>). Nothing is written for an account that does not exist.

  KEYS[1] account hash   KEYS[2] traffic alerts hash
  ARGV[1] 'put' | 'clear' | 'unblock'   ARGV[2] settings JSON (put), prefix to unblock ('' for all)
  ARGV[3] updatedAt (ISO 8601)   ARGV[4] accountId   ARGV[5] change channel
  ARGV[6] (unblock) until when a lifted prefix is not blocked again (ms): the end of the UTC day

  A lifted prefix is recorded in fraudLifted (JSON prefix -> untilMs; '*' for all): an engineer who lifts a
  block has judged that traffic, and fraud-alert does not block it again that day. Lifts that have run out
  are dropped on each write. An unblock always announces the change: every instance's guard must learn the
  lift, also when the prefix held no block.

  Returns { 1, changed (1|0) } or { -1 } for an unknown account
]]

--- @include "common"

if redis.call('HEXISTS', KEYS[1], 'limits') == 0 then return { -1 } end
if ARGV[1] == 'put' then
  redis.call('HSET', KEYS[1], 'traffic', ARGV[2], 'updatedAt', ARGV[3])
  redis.call('PUBLISH', ARGV[5], 'traffic|' .. ARGV[4])
  return { 1, 1 }
end
if ARGV[1] == 'unblock' then
  local now = nowMs()
  local lifted = {}
  for prefix, untilMs in pairs(decodeObject(redis.call('HGET', KEYS[1], 'fraudLifted')) or {}) do
    if (tonumber(untilMs) or 0) > now then lifted[prefix] = untilMs end
  end
  lifted[ARGV[2] == '' and '*' or ARGV[2]] = tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'fraudLifted', cjson.encode(lifted))
  redis.call('PUBLISH', ARGV[5], 'traffic|' .. ARGV[4])
  local raw = redis.call('HGET', KEYS[1], 'fraudBlocks')
  if not raw then return { 1, 0 } end
  local blocks = decodeObject(raw)
  local changed = 0
  if ARGV[2] == '' or not blocks then
    redis.call('HDEL', KEYS[1], 'fraudBlocks')
    changed = 1
  elseif blocks[ARGV[2]] then
    blocks[ARGV[2]] = nil
    if next(blocks) == nil then redis.call('HDEL', KEYS[1], 'fraudBlocks')
    else redis.call('HSET', KEYS[1], 'fraudBlocks', cjson.encode(blocks)) end
    changed = 1
  end
  return { 1, changed }
end
return { 1, redis.call('HDEL', KEYS[2], 'recommended') }
