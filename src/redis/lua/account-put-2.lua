--[[
  Creates or updates an account's settings, validated and merged with the stored account beforehand by
  src/accounts. Money held by the account (balance, reservations) is never set here: a new account
  starts at 0 in the state the rules give it (a prepaid account without funds is OFF/depleted), and only
  payments move the balance. A lowered credit limit applies the automatic OFF rule at once; a lowered
  burst caps the tokens already in the CPS bucket.

  Limits given as '' keep the stored value, so a put that does not change a limit can never undo a
  concurrent live limit change (set-limits) made between the caller's read and this write.

  KEYS[1] account hash   KEYS[2] events stream
  ARGV[1] accountId   ARGV[2] change channel   ARGV[3] mode: create | update | upsert
  ARGV[4] type   ARGV[5] creditLimit   ARGV[6] channels   ARGV[7] cps   ARGV[8] burst   ARGV[9] lowBalanceThreshold
  ARGV[10..] other field, value pairs (descriptive fields stored as given)

  Returns
    { 1, created (1|0), status, offReason, balance }
    { -1 }   update of an account that does not exist
    { -8 }   create of an account that already exists
]]
--- @include "common"

local stored = redis.call('HMGET', KEYS[1], 'limits', 'state')
local state = stored[2]
local created = 0
if not state then
  if ARGV[3] == 'update' then return { -1 } end
  created = 1
  state = 'on||0|0|||1|0|0'
elseif ARGV[3] == 'create' then
  return { -8 }
end
local merged = { ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9] }
if stored[1] then
  local i = 0
  for old in string.gmatch(stored[1] .. '|', '([^|]*)|') do
    i = i + 1
    if merged[i] == '' then merged[i] = old end
  end
end
local limits = table.concat(merged, '|')
local fields = { 'limits', limits }
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))

local a = parseAccount(KEYS[1], limits, state)
local now = nowMs()
if a.tokens and a.tokens > a.burst then a.tokens = a.burst end
if created == 1 then
  -- the starting state comes from the rules directly, and raises no event
  if exhausted(a) then a.status = 'off'; a.offReason = (a.type == 'postpaid') and 'credit_limit' or 'depleted' end
  a.lowArmed = (fundsOf(a) < a.low) and '0' or '1'
  a.wasStatus, a.wasReason = a.status, a.offReason
end
settleAccount(a, KEYS[2], ARGV[1], now, ARGV[2], nil)
return { 1, created, a.status, a.offReason, int(a.balance) }
