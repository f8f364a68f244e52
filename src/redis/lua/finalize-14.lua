--[[
  Ends one call exactly once: settles the final price (priced by src/rating: increments, connect fee,
  tax when not exempt) against what ticks already committed, frees the reservation and the lease,
  applies the automatic OFF rules and appends the CDR to the account's stream. A second call for the
  same callId finds no live call and changes nothing.

  KEYS[1] account hash   KEYS[2] leases of this switch   KEYS[3] live calls hash
  KEYS[4] lease expiries KEYS[5] CDR stream              KEYS[6] events stream
  KEYS[7] traffic bucket (minute)  KEYS[8] traffic bucket (UTC day)
  KEYS[9] its dialed numbers (minute)  KEYS[10] (day)  KEYS[11] the prefix's dialed numbers (minute)  KEYS[12] (day)
  KEYS[13] traffic samples list   KEYS[14] live calls of the fraud rule the call was admitted under

  ARGV[1] accountId  ARGV[2] callId
  ARGV[3] final total (cost + tax)  ARGV[4] cost  ARGV[5] tax  ARGV[6] billed seconds  ARGV[7] talk ms
  ARGV[8] answeredAt (epoch ms, 0 if never)  ARGV[9] endedAt (epoch ms)
  ARGV[10] disposition   ARGV[11] release reason   ARGV[12] SIP code   ARGV[13] change channel
  ARGV[14] '1' when traffic figures are kept, else ''   ARGV[15] the rated prefix   ARGV[16] the dialed number
  ARGV[17..23] the call's counts (at an ue tm bs sh ze, src/traffic/windows.ts countsOfCall)
  ARGV[24] minute bucket TTL (s)   ARGV[25] day bucket TTL (s)
  ARGV[26] '1' when the call is a traffic sample (short or zero-second)   ARGV[27] samples kept
  ARGV[28] '1' when the call was admitted under a fraud rule (admit-watched-7.lua): it leaves KEYS[14]

  The call's counts go into the traffic buckets in the same atomic step as its CDR, so a call is counted
  exactly when it is billed, and once.

  A call torn down for funds also raises a `call_torn_down` event on the account's events stream.

  Returns
    { 1, cdrEntryId, balance }   settled
    { 0 }                        already finalized (or never admitted): nothing changed
]]
--- @include "common"
--- @include "traffic"

local accountId, callId = ARGV[1], ARGV[2]
local raw = redis.call('HGET', KEYS[3], callId)
if not raw then return { 0 } end
local sw, heldText, comText, _, _, _, _, _, _, static = callFields(raw)
local a = loadAccountForBilling(KEYS[1])
local now = nowMs()
local total = tonumber(ARGV[3])

if a then
  debit(a, total - tonumber(comText), now)
  a.reserved = a.reserved - tonumber(heldText)
  settleAccount(a, KEYS[6], accountId, now, ARGV[13], nil)
  -- a call torn down because its money ran out is an event for the customer's operations team; here it
  -- is atomic with the CDR, and emitted once since a second finalize changes nothing
  if ARGV[10] == 'torn_down' and ARGV[11] == 'funds_exhausted' then
    emitEvent(KEYS[6], accountId, now, 'call_torn_down', a, { 'callId', callId, 'switchId', sw, 'reason', ARGV[11],
      'sipCode', ARGV[12], 'talkMs', ARGV[7], 'billedSec', ARGV[6], 'total', int(total) }, ARGV[13])
  end
end
redis.call('ZREM', KEYS[2], callId)
redis.call('ZREM', KEYS[4], callId)
redis.call('HDEL', KEYS[3], callId)
if ARGV[28] == '1' then redis.call('ZREM', KEYS[14], callId) end

if ARGV[14] == '1' then
  local incs = {}
  for i = 1, TRAFFIC_COUNTS do incs[i] = tonumber(ARGV[16 + i]) end
  local dialed = { ARGV[16] ~= '' and ARGV[16] or '-' }
  countInBucket(KEYS[7], KEYS[9], KEYS[11], ARGV[24], ARGV[15], incs, dialed)
  countInBucket(KEYS[8], KEYS[10], KEYS[12], ARGV[25], ARGV[15], incs, dialed)
  if ARGV[26] == '1' then keepSample(KEYS[13], callId, tonumber(ARGV[27])) end
end

local id = redis.call('XADD', KEYS[5], '*', 'callId', callId, 'static', static, 'switchId', sw, 'writer', sw,
  'disposition', ARGV[10], 'reason', ARGV[11], 'sipCode', ARGV[12],
  'answeredAt', ARGV[8], 'endedAt', ARGV[9], 'talkMs', ARGV[7], 'billedSec', ARGV[6],
  'cost', ARGV[4], 'tax', ARGV[5], 'total', int(total), 'balanceAfter', int(a and a.balance or 0))
return { 1, id, int(a and a.balance or 0) }
