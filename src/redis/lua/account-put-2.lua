--[[
  Creates or updates an account's settings, validated and merged with the stored account beforehand by
  src/accounts. Money held by the account (balance, reservations) is never set here: a new account
  starts at 0 in the state the rules give it (a prepaid account without funds is OFF/depleted), and only
  payments move the balance. A lowered credit limit applies the automatic OFF rule at once; a lowered
  burst caps the tokens already in the CPS bucket.

  KEYS[1] account hash   KEYS[2] events stream
  ARGV[1] accountId   ARGV[2] change channel
  ARGV[3] type   ARGV[4] creditLimit   ARGV[5] channels   ARGV[6] cps   ARGV[7] burst   ARGV[8] lowBalanceThreshold
  ARGV[9..] other field, value pairs (descriptive fields stored as given)

  Returns { 1, created (1|0), status, offReason, balance }
]]
--- @include "common"

local limits = table.concat({ ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8] }, '|')
local state = redis.call('HGET', KEYS[1], 'state')
local created = 0
if not state then
  created = 1
  state = 'on||0|0|||1|0|0'
end
local fields = { 'limits', limits }
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))

local a = parseAccount(KEYS[1], limits, state)
local now = nowMs()
if a.tokens and a.tokens > a.burst then a.tokens = a.burst end
if created == 1 then
  -- the starting state comes from the rules directly, and raises no event
  if exhausted(a) then a.status = 'off'; a.offReason = (a.type == 'postpaid') and 'credit_limit' or 'depleted' end
  a.lowArmed = (fundsOf(a) < a.low) and '0' or '1'
  a.was = a.status .. '/' .. a.offReason
end
settleAccount(a, KEYS[2], ARGV[1], now, ARGV[2], nil)
return { 1, created, a.status, a.offReason, int(a.balance) }
