--[[
  Writes (or removes) one account's catalog entry, fenced by the catalog lock that account writes hold
  (src/accounts/service.ts): a writer whose lock has expired and been taken by another writes nothing, and
  a directory reload heals the catalog only while no account write is under way.

  KEYS[1] catalog hash   KEYS[2] catalog lock
  ARGV[1] lock token ('' : write only while nobody holds the lock)   ARGV[2] accountId
  ARGV[3] entry JSON ('' removes the entry)

  Returns { 1 } written, or { 0 } not written (the lock is not ours, or someone holds it)
]]
local holder = redis.call('GET', KEYS[2])
if ARGV[1] == '' then
  if holder then return { 0 } end
elseif holder ~= ARGV[1] then
  return { 0 }
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return { 1 }
