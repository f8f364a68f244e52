--[[
  The export lease (src/export/lease.ts): one export role assembles the customer files at a time. Takes the
  lease when it is free, renews it when this token holds it.

  KEYS[1] lease   ARGV[1] token   ARGV[2] lifetime, ms

  Returns 1 when this token holds the lease for ARGV[2] ms from now, 0 when another one holds it
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
