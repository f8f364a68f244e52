--[[
  Finalizes calls whose lease expired because their owner stopped renewing it (the instance died, or
  lost its link). Each is billed what its last tick committed, with disposition 'orphaned', and gets
  exactly one CDR: a call is removed from the live hash in the same step that writes its CDR, and is
  counted in the account's traffic figures in that same step, as finalize counts the calls it ends.

  The sweeper reads the candidates first (the earliest lease expiries and their records) and gives them
  here with the counts it computed from each record (src/traffic/windows.ts countsOfCall), all of one
  rated prefix per run. A candidate is swept only if its lease expired by Redis time and its record's
  meter is still the one read: a call its owner renewed or ticked meanwhile is left alone.

  KEYS[1] account hash   KEYS[2] live calls hash   KEYS[3] lease expiries
  KEYS[4] CDR stream     KEYS[5] events stream     KEYS[6] traffic samples list
  KEYS[7] traffic bucket (minute)  KEYS[8] (UTC day)  KEYS[9] its dialed numbers (minute)  KEYS[10] (day)
  KEYS[11] the prefix's dialed numbers (minute)  KEYS[12] (day)

  ARGV[1] accountId   ARGV[2] change channel
  ARGV[3] the sweeping instance's switchId: its CDR writer owns these CDRs (field `writer`)
  ARGV[4] '1' when traffic figures are kept, else ''   ARGV[5] the candidates' rated prefix ('' none)
  ARGV[6] minute bucket TTL (s)   ARGV[7] day bucket TTL (s)   ARGV[8] samples kept
  ARGV[9..] per candidate, 11 values: callId, the record's meter as read (the part before its newline),
            the dialed number, the call's counts (at an ue tm bs sh ze), '1' when it is a traffic sample

  Returns { count, callId1, cdrEntryId1, callId2, cdrEntryId2, ... }
]]
--- @include "common"
--- @include "traffic"

local accountId = ARGV[1]
local counting = ARGV[4] == '1'
local now = nowMs()
local out = { 0 }
local a = loadAccount(KEYS[1])
for i = 9, #ARGV - 10, 11 do
  local callId, meter = ARGV[i], ARGV[i + 1]
  local expiry = tonumber(redis.call('ZSCORE', KEYS[3], callId))
  if expiry and expiry <= now then
    local raw = redis.call('HGET', KEYS[2], callId)
    if not raw then
      redis.call('ZREM', KEYS[3], callId)
    elseif string.sub(raw, 1, #meter + 1) == meter .. '\n' then
      local m = parseCall(raw)
      redis.call('ZREM', KEYS[3], callId)
      redis.call('HDEL', KEYS[2], callId)
      if a then a.reserved = a.reserved - m.rsv end
      local id = redis.call('XADD', KEYS[4], '*', 'callId', callId, 'static', m.static, 'switchId', m.sw,
        'writer', ARGV[3], 'disposition', 'orphaned', 'reason', 'lease_expired', 'sipCode', m.ans > 0 and '200' or '0',
        'answeredAt', int(m.ans), 'endedAt', int(m.beat), 'talkMs', int(m.talk), 'billedSec', int(m.bsec),
        'cost', int(m.cost), 'tax', int(m.tax), 'total', int(m.com), 'balanceAfter', int(a and a.balance or 0))
      if counting then
        local incs = {}
        for j = 1, TRAFFIC_COUNTS do incs[j] = tonumber(ARGV[i + 2 + j]) or 0 end
        local dialed = { ARGV[i + 2] ~= '' and ARGV[i + 2] or '-' }
        countInBucket(KEYS[7], KEYS[9], KEYS[11], ARGV[6], ARGV[5], incs, dialed)
        countInBucket(KEYS[8], KEYS[10], KEYS[12], ARGV[7], ARGV[5], incs, dialed)
        if ARGV[i + 10] == '1' then keepSample(KEYS[6], callId, tonumber(ARGV[8])) end
      end
      out[1] = out[1] + 1
      out[#out + 1] = callId
      out[#out + 1] = id
    end
  end
end
if a and out[1] > 0 then settleAccount(a, KEYS[5], accountId, now, ARGV[2], nil) end
return out
