--[[
  Heartbeat of one live call: commits the cost of its billable time so far (the total, recomputed by
  src/rating from the whole duration, so rounding never accumulates), renews the lease and holds the
  next reservation. When funds cannot cover the next unit it holds what is left and says so.

  KEYS[1] account hash   KEYS[2] leases of this switch   KEYS[3] live calls hash
  KEYS[4] lease expiries KEYS[5] events stream

  ARGV[1] accountId  ARGV[2] callId
  ARGV[3] total committed so far (cost + tax), micro-dollars   ARGV[4] cost   ARGV[5] tax
  ARGV[6] billed seconds so far   ARGV[7] talk time so far, ms   ARGV[8] answeredAt (epoch ms, 0 if not yet)
  ARGV[9] next reservation, micro-dollars   ARGV[10] lease TTL, ms   ARGV[11] change channel

  Returns
    { 1, held, balance, leaseExpiryMs }           next unit reserved
    { 2, held, balance, leaseExpiryMs }           funds short: held is all that was left
    { -2, offReason, balance }                    account is OFF: the call must end now
    { -6 }                                        no such live call (finalized, or swept after its lease expired)
]]
--- @include "common"

local accountId, callId = ARGV[1], ARGV[2]
local total = tonumber(ARGV[3])
local nextReservation, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])

local raw = redis.call('HGET', KEYS[3], callId)
if not raw then return { -6 } end
-- the record is rewritten from its texts: only what this tick changes is printed again
local sw, heldText, comText, costText, taxText, _, _, _, ansText, static = callFields(raw)
local held, committed = tonumber(heldText), tonumber(comText)
local a = loadAccountForBilling(KEYS[1])
if not a then return { -6 } end
local now = nowMs()

-- the committed figure only grows during a call; finalize settles the exact final amount
if total > committed then
  debit(a, total - committed, now)
  comText, costText, taxText = int(total), int(tonumber(ARGV[4])), int(tonumber(ARGV[5]))
end
a.reserved = a.reserved - held
held = 0
local answeredAt = tonumber(ARGV[8])
if answeredAt > 0 then ansText = int(answeredAt) end

local code = 1
if a.status == 'on' then
  local available = availableOf(a)
  if available >= nextReservation then
    held = nextReservation
  else
    held = math.max(0, available)
    code = 2
  end
  a.reserved = a.reserved + held
end
settleAccount(a, KEYS[5], accountId, now, ARGV[11], nil)

-- numbers given to redis.call are printed with '%.17g': the expiry is printed once, with int()
local expiryText = int(now + ttl)
redis.call('ZADD', KEYS[2], expiryText, callId)
redis.call('ZADD', KEYS[4], expiryText, callId)
redis.call('HSET', KEYS[3], callId,
  joinCall(sw, int(held), comText, costText, taxText, int(tonumber(ARGV[6])), int(tonumber(ARGV[7])), int(now), ansText, static))
if a.status ~= 'on' then return { -2, a.offReason, int(a.balance) } end
return { code, int(held), int(a.balance), expiryText }
