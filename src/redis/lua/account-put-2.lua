--[[
  Creates or updates an account's settings (validated beforehand by src/accounts). Money held by the
  account (balance, reservations) is never set here: a new account starts at 0, and only payments move
  the balance. A lowered credit limit applies the automatic OFF rule at once.

  KEYS[1] account hash   KEYS[2] events stream
  ARGV[1] accountId   ARGV[2] change channel   ARGV[3..] field, value pairs

  Returns { 1, created (1|0), status, offReason, balance }
]]
--- @include "common"

local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  created = 1
  redis.call('HSET', KEYS[1], 'balance', '0', 'reserved', '0', 'status', 'on', 'offReason', '', 'lowArmed', '1')
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
-- a smaller burst takes effect on the next INVITE, not after the bucket drains
local v = redis.call('HMGET', KEYS[1], 'tokens', 'burst')
if v[1] and tonumber(v[1]) > tonumber(v[2]) then redis.call('HSET', KEYS[1], 'tokens', v[2]) end
local a = loadAccount(KEYS[1])
local now = nowMs()
if created == 1 then
  -- a new account starts in the state the rules give it (a prepaid one without funds is OFF), with no event
  if exhausted(a) then a.status = 'off'; a.offReason = (a.type == 'postpaid') and 'credit_limit' or 'depleted' end
  a.lowArmed = (fundsOf(a) < a.low) and '0' or '1'
  a.was = a.status .. '/' .. a.offReason
end
settleAccount(a, KEYS[2], ARGV[1], now, ARGV[2], nil)
return { 1, created, a.status, a.offReason, int(a.balance) }
