--[[
  Adds one batch of refused INVITEs of an account (to one destination prefix, or none) to its traffic
  buckets. Refusals cost no Redis call on the INVITE path: each instance counts them and writes them here
  at most once per traffic.refusalFlushMs.

  KEYS[1] traffic bucket (minute)  KEYS[2] traffic bucket (UTC day)
  KEYS[3] dialed numbers (minute)  KEYS[4] (day)  KEYS[5] the prefix's dialed numbers (minute)  KEYS[6] (day)

  ARGV[1] prefix ('' when the INVITE was refused before it was rated)   ARGV[2] attempts
  ARGV[3] minute bucket TTL (s)   ARGV[4] day bucket TTL (s)   ARGV[5..] the numbers dialed (at least one)

  Returns { 1 }
]]
--- @include "common"
--- @include "traffic"

local incs = { tonumber(ARGV[2]), 0, 0, 0, 0, 0, 0 }
local dialed = {}
for i = 5, #ARGV do dialed[#dialed + 1] = ARGV[i] end
if #dialed == 0 then dialed[1] = '-' end
countInBucket(KEYS[1], KEYS[3], KEYS[5], ARGV[3], ARGV[1], incs, dialed)
countInBucket(KEYS[2], KEYS[4], KEYS[6], ARGV[4], ARGV[1], incs, dialed)
return { 1 }
