--[[
  Live limit change. It applies to the very next INVITE on every switch: admit reads these fields.
  A lowered burst also caps the tokens already in the bucket.

  KEYS[1] account hash
  ARGV[1] channels ('' keeps)   ARGV[2] cps ('' keeps)   ARGV[3] burst ('' keeps)

  Returns { 1, channels, cps, burst } or { -1 } for an unknown account
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return { -1 } end
local names = { 'channels', 'cps', 'burst' }
for i = 1, 3 do
  if ARGV[i] ~= '' then redis.call('HSET', KEYS[1], names[i], ARGV[i]) end
end
local v = redis.call('HMGET', KEYS[1], 'channels', 'cps', 'burst', 'tokens')
if v[4] and tonumber(v[4]) > tonumber(v[3]) then redis.call('HSET', KEYS[1], 'tokens', v[3]) end
return { 1, v[1], v[2], v[3] }
