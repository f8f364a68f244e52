--[[
  Finalizes calls whose lease expired because their owner stopped renewing it (the instance died, or
  lost its link). Each is billed what its last tick committed, with disposition 'orphaned', and gets
  exactly one CDR: a call is removed from the live hash in the same step that writes its CDR.

  KEYS[1] account hash   KEYS[2] live calls hash   KEYS[3] lease expiries
  KEYS[4] CDR stream     KEYS[5] events stream

  ARGV[1] accountId   ARGV[2] max calls to sweep in this run   ARGV[3] change channel
  ARGV[4] the sweeping instance's switchId: its CDR writer owns these CDRs (field `writer`)

  Returns { count, callId1, cdrEntryId1, callId2, cdrEntryId2, ... }
]]
--- @include "common"

local accountId = ARGV[1]
local now = nowMs()
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = { 0 }
if #expired == 0 then return out end
local a = loadAccount(KEYS[1])
for _, callId in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[2], callId)
  redis.call('ZREM', KEYS[3], callId)
  if raw then
    local m = parseCall(raw)
    redis.call('HDEL', KEYS[2], callId)
    if a then a.reserved = a.reserved - m.rsv end
    local id = redis.call('XADD', KEYS[4], '*', 'callId', callId, 'static', m.static, 'switchId', m.sw,
      'writer', ARGV[4], 'disposition', 'orphaned', 'reason', 'lease_expired', 'sipCode', m.ans > 0 and '200' or '0',
      'answeredAt', int(m.ans), 'endedAt', int(m.beat), 'talkMs', int(m.talk), 'billedSec', int(m.bsec),
      'cost', int(m.cost), 'tax', int(m.tax), 'total', int(m.com), 'balanceAfter', int(a and a.balance or 0))
    out[1] = out[1] + 1
    out[#out + 1] = callId
    out[#out + 1] = id
  end
end
if a then settleAccount(a, KEYS[5], accountId, now, ARGV[3], nil) end
return out
