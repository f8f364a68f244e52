--[[
  Records that an account's day file was published (src/export/assembler.ts) and raises its
  `cdr_file_ready` event, once per revision: a revision already recorded (a retry after a lost reply, or
  a standby exporter publishing again what the last one did) changes nothing and raises nothing.

  KEYS[1] the account's cdrFiles hash   KEYS[2] the account's events stream
  ARGV[1] accountId   ARGV[2] day field (YYYYMMDD)   ARGV[3] revision   ARGV[4] record JSON   ARGV[5] change channel
  ARGV[6..] the event's fields, name value pairs

  Returns 1 when recorded now, 0 when that revision (or a later one) was recorded already
]]
local stored = redis.call('HGET', KEYS[1], ARGV[2])
if stored then
  local ok, record = pcall(cjson.decode, stored)
  if ok and type(record) == 'table' and tonumber(record.revision) and tonumber(record.revision) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fields = { '*', 'type', 'cdr_file_ready', 'account', ARGV[1], 'at', string.format('%d', now) }
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], unpack(fields))
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], 'event|' .. ARGV[1]) end
return 1
