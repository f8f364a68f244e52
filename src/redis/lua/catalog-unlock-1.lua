--[[
  Releases the catalog lock if this writer still holds it.

  KEYS[1] catalog lock
  ARGV[1] lock token

  Returns { 1 } released, or { 0 } the lock had expired or was another writer's
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return { 1 }
end
return { 0 }
