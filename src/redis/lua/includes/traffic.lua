-- Traffic figures (src/traffic): counts added to an account's time buckets. A bucket is a hash holding the
-- account's counts in field '*' and each destination prefix's in a field named by the prefix, every value
-- packed as at|an|ue|tm|bs|sh|ze (attempts, answered, user ends, talk ms, billed seconds, short, zero-second;
-- src/traffic/windows.ts decodes them). A bucket and the HyperLogLog of its dialed numbers expire once their
-- window has passed: counts only ever grow, and nothing is reset or scanned.

local TRAFFIC_COUNTS = 7

-- a packed field's counts plus incs, packed again (TRAFFIC_COUNTS numbers: one match and one format, as
-- a loop over the parts costs several times more Lua time)
local PACKED = '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$'
local function addCounts(old, incs)
  local at, an, ue, tm, bs, sh, ze = 0, 0, 0, 0, 0, 0, 0
  if old then
    at, an, ue, tm, bs, sh, ze = string.match(old, PACKED)
    if not at then at, an, ue, tm, bs, sh, ze = 0, 0, 0, 0, 0, 0, 0 end
  end
  return string.format('%d|%d|%d|%d|%d|%d|%d', at + incs[1], an + incs[2], ue + incs[3], tm + incs[4], bs + incs[5], sh + incs[6], ze + incs[7])
end

-- one bucket: the account's counts, the prefix's (prefix '' for none), and the numbers dialed (a list, never
-- empty: an unknown number is given as '-'); each expiry is set once, when its field is new. Every Redis
-- command a script runs costs about a microsecond of Redis time on top of its work, so both fields are read
-- and written together: a call's figures cost two commands per bucket, and one PFADD per HyperLogLog.
local function countInBucket(bucket, numbers, prefixNumbers, ttl, prefix, incs, dialed)
  if prefix ~= '' then
    local old = redis.call('HMGET', bucket, '*', prefix)
    redis.call('HSET', bucket, '*', addCounts(old[1], incs), prefix, addCounts(old[2], incs))
    redis.call('PFADD', numbers, unpack(dialed))
    redis.call('PFADD', prefixNumbers, unpack(dialed))
    if not old[1] then
      redis.call('EXPIRE', bucket, ttl)
      redis.call('EXPIRE', numbers, ttl)
    end
    if not old[2] then redis.call('EXPIRE', prefixNumbers, ttl) end
  else
    local old = redis.call('HGET', bucket, '*')
    redis.call('HSET', bucket, '*', addCounts(old, incs))
    redis.call('PFADD', numbers, unpack(dialed))
    if not old then
      redis.call('EXPIRE', bucket, ttl)
      redis.call('EXPIRE', numbers, ttl)
    end
  end
end

-- keeps a call id in the samples list: its newest `keep` entries are what an alert reads (LRANGE 0 keep-1),
-- so the list is trimmed only once it holds twice that, one LTRIM per `keep` pushes
local function keepSample(list, callId, keep)
  if keep <= 0 then return end
  if redis.call('LPUSH', list, callId) > 2 * keep then redis.call('LTRIM', list, 0, keep - 1) end
end
