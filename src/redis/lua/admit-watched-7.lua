--[[
  admit-4.lua for an INVITE to a destination under one of the account's fraud rules: the same decision,
  and when the call is admitted, in the same step, the rule's counts: calls this minute, calls this UTC
  day, calls to this very number today, and calls live now. src/traffic judges them against the rule.

  KEYS[1..4] as admit-4.lua   KEYS[5] the rule prefix's minute counter   KEYS[6] its UTC-day hash
  KEYS[7] its live calls (sorted set callId -> admitted at)

  ARGV[1..5] as admit-4.lua   ARGV[6] the number dialed   ARGV[7] minute counter TTL (s)
  ARGV[8] day hash TTL (s)   ARGV[9] how long a live-call entry counts at most (ms): entries of calls
  that ended without a finalize (their instance died) stop counting after it

  Returns admit-4.lua's replies; when admitted
    { 1, nowMs, leaseExpiryMs, availableAfter, callsThisMinute, callsToday, callsToNumberToday, liveCalls }
]]
--- @include "common"
--- @include "admit"

local r = admitCall()
if r[1] ~= 1 then return r end
local now = tonumber(r[2])
local minute = redis.call('INCR', KEYS[5])
if minute == 1 then redis.call('EXPIRE', KEYS[5], ARGV[7]) end
local day = redis.call('HINCRBY', KEYS[6], 'calls', 1)
local number = redis.call('HINCRBY', KEYS[6], 'n:' .. ARGV[6], 1)
if day == 1 then redis.call('EXPIRE', KEYS[6], ARGV[8]) end
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', int(now - tonumber(ARGV[9])))
redis.call('ZADD', KEYS[7], r[2], ARGV[1])
redis.call('PEXPIRE', KEYS[7], ARGV[9])
local live = redis.call('ZCARD', KEYS[7])
r[5], r[6], r[7], r[8] = minute, day, number, live
return r
