--[[
  An account as the admin API shows it, in one round trip: its hash fields, and its live calls counted by
  the switch that owns each one. Reads only.

  The fields are read by name (HMGET), in the order of ACCOUNT_VIEW_FIELDS in src/redis/codecs/account-hash.ts:
  the two lists must match. Values only, with no field names, in one flat reply: for a 10-field hash this
  costs Redis and the client about half the work of HGETALL and a nested reply.

  KEYS[1] account hash   KEYS[2] live calls hash
  ARGV[1] most live call records counted here: a larger calls hash is not read in one go (it would hold
          Redis while INVITEs wait); the caller pages through it with HSCAN instead

  Returns {} for an unknown account, else
    { value of each field (nil when absent) ..., calls in the hash, 1 counted | 0 left to the caller,
      switch, n, switch, n ... }
]]

local v = redis.call('HMGET', KEYS[1], 'limits', 'state', 'name', 'fusfOnFile', 'billingCountry', 'taxExempt',
  'deckId', 'ips', 'techPrefix', 'updatedAt', 'statusNote', 'statusChangedAt')
local found = false
for i = 1, #v do
  if v[i] then found = true break end
end
if not found then return {} end
local n = redis.call('HLEN', KEYS[2])
v[#v + 1] = n
if n > tonumber(ARGV[1]) then
  v[#v + 1] = 0
  return v
end
v[#v + 1] = 1
if n == 0 then return v end

-- a live call record starts with the switch that owns it: switch|reserved|...
local bySwitch = {}
local order = {}
for _, rec in ipairs(redis.call('HVALS', KEYS[2])) do
  local sw = string.match(rec, '^([^|]*)|') or ''
  if bySwitch[sw] == nil then
    bySwitch[sw] = 0
    order[#order + 1] = sw
  end
  bySwitch[sw] = bySwitch[sw] + 1
end
for _, sw in ipairs(order) do
  v[#v + 1] = sw
  v[#v + 1] = bySwitch[sw]
end
return v
