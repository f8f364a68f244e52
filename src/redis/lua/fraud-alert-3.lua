--[[
  Records that an admitted call reached a level of one of the account's fraud rules (src/traffic/fraud.ts
  judged the counts admit-watched returned). A critical blocks the rule's prefix until its window passes:
  the block is kept in the account hash (field fraudBlocks, JSON prefix -> "<untilMs>|<rule>|<limit>",
  expired blocks dropped on each write) and announced on the change channel, so every instance refuses the
  prefix. The event (traffic_warning / traffic_critical, window "fraud") is raised once per level and
  snooze, however many calls and instances reach it.

  KEYS[1] account hash   KEYS[2] traffic alerts hash   KEYS[3] events stream

  ARGV[1] accountId   ARGV[2] alert field (fraud|<rule>|<limit>)   ARGV[3] level: warning | critical
  ARGV[4] rule name   ARGV[5] limit   ARGV[6] the rule's prefix   ARGV[7] the count reached
  ARGV[8] the level's threshold   ARGV[9] block until (ms; critical)   ARGV[10] snooze (ms)
  ARGV[11] change channel

  Returns { 1, alerted (0|1), blocked (0|1) } or { -1 } for an unknown account
]]
--- @include "common"

local a = loadAccount(KEYS[1])
if not a then return { -1 } end
local now = nowMs()
local level = ARGV[3]
local blocked = 0

local function liftedUntil()
  local lifted = decodeObject(redis.call('HGET', KEYS[1], 'fraudLifted')) or {}
  return math.max(tonumber(lifted[ARGV[6]]) or 0, tonumber(lifted['*']) or 0)
end

-- a prefix an engineer lifted today is not blocked again today (traffic-settings 'unblock')
if level == 'critical' and liftedUntil() <= now then
  local blocks = decodeObject(redis.call('HGET', KEYS[1], 'fraudBlocks')) or {}
  local kept = {}
  for prefix, v in pairs(blocks) do
    local untilMs = tonumber(string.match(tostring(v), '^(%d+)|'))
    if untilMs and untilMs > now then kept[prefix] = v end
  end
  local want = tonumber(ARGV[9])
  local current = kept[ARGV[6]] and tonumber(string.match(kept[ARGV[6]], '^(%d+)|')) or 0
  if want > current then
    kept[ARGV[6]] = int(want) .. '|' .. ARGV[4] .. '|' .. ARGV[5]
    blocked = 1
  end
  if next(kept) == nil then redis.call('HDEL', KEYS[1], 'fraudBlocks')
  else redis.call('HSET', KEYS[1], 'fraudBlocks', cjson.encode(kept)) end
  if blocked == 1 then redis.call('PUBLISH', ARGV[11], 'traffic|' .. ARGV[1]) end
end

-- snooze per level: <warningUntil>|<criticalUntil>
local state = redis.call('HGET', KEYS[2], ARGV[2]) or ''
local w, c = string.match(state, '^(%d*)|(%d*)$')
w, c = tonumber(w) or 0, tonumber(c) or 0
local snoozedUntil = level == 'critical' and c or w
if now < snoozedUntil then return { 1, 0, blocked } end
if level == 'critical' then c = now + tonumber(ARGV[10]) else w = now + tonumber(ARGV[10]) end
redis.call('HSET', KEYS[2], ARGV[2], int(w) .. '|' .. int(c))
emitEvent(KEYS[3], ARGV[1], now, 'traffic_' .. level, a, {
  'window', 'fraud', 'rule', ARGV[4], 'limit', ARGV[5], 'prefix', ARGV[6], 'value', ARGV[7], 'threshold', ARGV[8],
  'blockedUntil', level == 'critical' and int(tonumber(ARGV[9])) or '',
}, ARGV[11])
return { 1, 1, blocked }
