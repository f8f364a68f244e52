-- Traffic figures (src/traffic): counts added to an account's time buckets. A bucket is a hash holding the
-- account's counts in field '*' and each destination prefix's in a field named by the prefix, every value
-- packed as at|an|ue|tm|bs|sh|ze (attempts, answered, user ends, talk ms, billed seconds, short, zero-second;
-- src/traffic/windows.ts decodes them). A bucket and the HyperLogLog of its dialed numbers expire once their
-- window has passed: counts only ever grow, and nothing is reset or scanned.

local TRAFFIC_COUNTS = 7

-- adds incs (TRAFFIC_COUNTS numbers) to one packed field; true when the field was new
local function addPacked(key, field, incs)
  local old = redis.call('HGET', key, field)
  local sum = {}
  local i = 0
  if old then
    for v in string.gmatch(old, '[^|]+') do
      i = i + 1
      sum[i] = (tonumber(v) or 0) + (incs[i] or 0)
    end
  end
  for j = i + 1, TRAFFIC_COUNTS do sum[j] = incs[j] or 0 end
  for j = 1, TRAFFIC_COUNTS do sum[j] = int(sum[j]) end
  redis.call('HSET', key, field, table.concat(sum, '|'))
  return not old
end

-- one bucket: the account's counts, the prefix's (prefix '' for none), and the numbers dialed (a list, never
-- empty: an unknown number is given as '-'); each expiry is set once, when its field is new
local function countInBucket(bucket, numbers, prefixNumbers, ttl, prefix, incs, dialed)
  local new = addPacked(bucket, '*', incs)
  local newPrefix = prefix ~= '' and addPacked(bucket, prefix, incs)
  redis.call('PFADD', numbers, unpack(dialed))
  if prefix ~= '' then redis.call('PFADD', prefixNumbers, unpack(dialed)) end
  if new then
    redis.call('EXPIRE', bucket, ttl)
    redis.call('EXPIRE', numbers, ttl)
  end
  if newPrefix then redis.call('EXPIRE', prefixNumbers, ttl) end
end
