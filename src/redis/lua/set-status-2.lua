--[[
  An engineer's status change. OFF is always 'manual' and ends the account's live calls on every switch
  (through the change channel, and at the latest at each call's next tick). ON lifts any OFF, after which
  the automatic rules apply again at once: an account without funds goes straight back to OFF.

  KEYS[1] account hash   KEYS[2] events stream
  ARGV[1] accountId   ARGV[2] 'on' | 'off'   ARGV[3] change channel   ARGV[4] note (free text, may be empty)
  ARGV[5] updatedAt (ISO 8601)

  Returns { 1, status, offReason } or { -1 } for an unknown account
]]
--- @include "common"

local a = loadAccount(KEYS[1])
if not a then return { -1 } end
local now = nowMs()
if ARGV[2] == 'off' then
  a.status, a.offReason = 'off', 'manual'
else
  a.status, a.offReason = 'on', ''
end
redis.call('HSET', KEYS[1], 'statusNote', ARGV[4], 'statusChangedAt', int(now), 'updatedAt', ARGV[5])
settleAccount(a, KEYS[2], ARGV[1], now, ARGV[3], nil)
return { 1, a.status, a.offReason }
