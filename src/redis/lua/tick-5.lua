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
local total, cost, tax = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local nextReservation, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])

local raw = redis.call('HGET', KEYS[3], callId)
if not raw then return { -6 } end
local m = parseCall(raw)
local a = loadAccount(KEYS[1])
if not a then return { -6 } end
local now = nowMs()

-- the committed figure only grows during a call; finalize settles the exact final amount
if total > m.com then
  debit(a, total - m.com, now)
  m.com, m.cost, m.tax = total, cost, tax
end
a.reserved = a.reserved - m.rsv
m.rsv = 0
m.bsec, m.talk, m.beat = tonumber(ARGV[6]), tonumber(ARGV[7]), now
if tonumber(ARGV[8]) > 0 then m.ans = tonumber(ARGV[8]) end

local code = 1
if a.status == 'on' then
  local available = availableOf(a)
  if available >= nextReservation then
    m.rsv = nextReservation
  else
    m.rsv = math.max(0, available)
    code = 2
  end
  a.reserved = a.reserved + m.rsv
end
settleAccount(a, KEYS[5], accountId, now, ARGV[11], nil)

local expiry = now + ttl
redis.call('ZADD', KEYS[2], expiry, callId)
redis.call('ZADD', KEYS[4], expiry, callId)
redis.call('HSET', KEYS[3], callId, formatCall(m))
if a.status ~= 'on' then return { -2, a.offReason, int(a.balance) } end
return { code, int(m.rsv), int(a.balance), int(expiry) }
