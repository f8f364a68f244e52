--[[
  An account as the admin API shows it, in one round trip: its hash, and its live calls counted by the
  switch that owns each one. Reads only.

  KEYS[1] account hash   KEYS[2] live calls hash
  ARGV[1] most live call records counted here: a larger calls hash is not read in one go (it would hold
          Redis while INVITEs wait); the caller pages through it with HSCAN instead

  Returns { hash (field, value, ...), counts (switch, n, ...), calls in the hash, 1 counted | 0 left to the caller }
  An unknown account answers an empty hash.
]]

local hash = redis.call('HGETALL', KEYS[1])
if #hash == 0 then return { hash, {}, 0, 1 } end
local n = redis.call('HLEN', KEYS[2])
if n == 0 then return { hash, {}, 0, 1 } end
if n > tonumber(ARGV[1]) then return { hash, {}, n, 0 } end

-- a live call record starts with the switch that owns it: switch|reserved|...
local bySwitch = {}
local order = {}
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  local sw = string.match(v, '^([^|]*)|') or ''
  if bySwitch[sw] == nil then
    bySwitch[sw] = 0
    order[#order + 1] = sw
  end
  bySwitch[sw] = bySwitch[sw] + 1
end
local counts = {}
for _, sw in ipairs(order) do
  counts[#counts + 1] = sw
  counts[#counts + 1] = bySwitch[sw]
end
return { hash, counts, n, 1 }
