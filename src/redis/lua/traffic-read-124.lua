--[[
  Reads an account's traffic in one step: its traffic settings, its rules' alert states, every bucket of
  its windows, and the distinct numbers dialed in each window. Judging happens in src/traffic (pure).

  KEYS[1] account hash   KEYS[2] traffic alerts hash
  KEYS[3..62] the 60 newest minute buckets, oldest first   KEYS[63..122] their dialed-number HyperLogLogs
  KEYS[123] the UTC day's bucket   KEYS[124] its dialed numbers

  Returns { exists (1|0), settings JSON or '', alerts (flat field/value list), distinct 15m, distinct 1h, distinct day,
            then one flat field/value list per bucket, minute buckets oldest first, then the day's,
            then the fraud blocks JSON or '' }
]]

local out = {
  redis.call('HEXISTS', KEYS[1], 'limits'),
  redis.call('HGET', KEYS[1], 'traffic') or '',
  redis.call('HGETALL', KEYS[2]),
  redis.call('PFCOUNT', unpack(KEYS, 108, 122)),
  redis.call('PFCOUNT', unpack(KEYS, 63, 122)),
  redis.call('PFCOUNT', KEYS[124]),
}
for i = 3, 62 do out[#out + 1] = redis.call('HGETALL', KEYS[i]) end
out[#out + 1] = redis.call('HGETALL', KEYS[123])
out[#out + 1] = redis.call('HGET', KEYS[1], 'fraudBlocks') or ''
return out
