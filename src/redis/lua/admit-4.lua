--[[
  Admits one call: status, funds, CPS bucket, then channels on this switch, in that order; the first
  failure decides. On success writes the lease, the first reservation and the call's meter record.

  KEYS[1] account hash       {a:<id>}:acct
  KEYS[2] leases of switch   {a:<id>}:leases:<switchId>
  KEYS[3] live calls hash    {a:<id>}:calls
  KEYS[4] lease expiries     {a:<id>}:expiry

  ARGV[1] callId (callgate's own id)   ARGV[2] switchId
  ARGV[3] first reservation, micro-dollars (priced by src/rating)
  ARGV[4] lease TTL, ms                ARGV[5] static CDR fields (JSON text, stored as given)

  Returns
    { 1, nowMs, leaseExpiryMs, availableAfter }   admitted
    { -1 }                                         unknown account
    { -2, offReason }                              account OFF
    { -3, available }                              not enough funds for the first reservation
    { -4, retryAfterMs }                           CPS bucket empty
    { -5, inUse }                                  channel limit on this switch
    { -7 }                                         callId already live
]]
--- @include "common"

local callId, switchId = ARGV[1], ARGV[2]
local reservation, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])

local v = redis.call('HMGET', KEYS[1], 'type', 'status', 'offReason', 'balance', 'creditLimit', 'reserved',
  'channels', 'cps', 'burst', 'tokens', 'tokensAt')
if not v[1] then return { -1 } end
if v[2] ~= 'on' then return { -2, v[3] or '' } end

local balance, reserved = tonumber(v[4]) or 0, tonumber(v[6]) or 0
local available = balance - reserved
if v[1] == 'postpaid' then available = available + (tonumber(v[5]) or 0) end
if available < reservation then return { -3, int(available) } end

if redis.call('HEXISTS', KEYS[3], callId) == 1 then return { -7 } end

local now = nowMs()
local cps, burst = tonumber(v[8]) or 0, tonumber(v[9]) or 0
local tokens, at = tonumber(v[10]), tonumber(v[11])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
if now > at and cps > 0 then tokens = math.min(burst, tokens + (now - at) * cps / 1000) end
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'tokensAt', int(now))
  if cps <= 0 then return { -4, 1000 } end
  return { -4, math.ceil((1 - tokens) * 1000 / cps) }
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens - 1), 'tokensAt', int(now))

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inUse = redis.call('ZCARD', KEYS[2])
if inUse >= (tonumber(v[7]) or 0) then return { -5, inUse } end

local expiry = now + ttl
redis.call('ZADD', KEYS[2], expiry, callId)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
redis.call('ZADD', KEYS[4], expiry, callId)
redis.call('HSET', KEYS[3], callId,
  formatMeter({ sw = switchId, rsv = reservation, com = 0, cost = 0, tax = 0, bsec = 0, talk = 0, beat = now, ans = 0 }),
  callId .. '#cdr', ARGV[5])
redis.call('HSET', KEYS[1], 'reserved', int(reserved + reservation))
return { 1, int(now), int(expiry), int(available - reservation) }
