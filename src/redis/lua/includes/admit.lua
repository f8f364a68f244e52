-- The admission decision (admit-4.lua, admit-watched-7.lua): status, funds, CPS bucket, then channels on
-- this switch, in that order; the first failure decides. On success writes the lease, the first
-- reservation and the call's record. KEYS[1..4] and ARGV[1..5] as admit-4.lua documents them.
local function admitCall()
  local callId, switchId = ARGV[1], ARGV[2]
  local reservation, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])

  local a = loadAccountForAdmit(KEYS[1])
  if not a then return { -1 } end
  if a.status ~= 'on' then return { -2, a.offReason } end

  local available = availableOf(a)
  if available < reservation then return { -3, int(available) } end

  local now = nowMs()
  local tokens, at = a.tokens, a.tokensAt
  if tokens == nil or at == nil then
    tokens, at = a.burst, now
  end
  if now > at and a.cps > 0 then tokens = math.min(a.burst, tokens + (now - at) * a.cps / 1000) end
  a.tokensAt = now
  if tokens < 1 then
    a.tokens = tokens
    saveState(a)
    if a.cps <= 0 then return { -4, 1000 } end
    return { -4, math.ceil((1 - tokens) * 1000 / a.cps) }
  end
  a.tokens = tokens - 1

  -- numbers given to redis.call are printed with '%.17g': these are printed once, with int()
  local nowText = int(now)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', nowText)
  local inUse = redis.call('ZCARD', KEYS[2])
  if inUse >= a.channels then
    saveState(a)
    return { -5, inUse }
  end

  local expiryText = int(now + ttl)
  local record = joinCall(switchId, int(reservation), '0', '0', '0', '0', '0', nowText, '0', ARGV[5])
  if redis.call('HSETNX', KEYS[3], callId, record) == 0 then
    saveState(a)
    return { -7 }
  end
  redis.call('ZADD', KEYS[2], expiryText, callId)
  redis.call('ZADD', KEYS[4], expiryText, callId)
  a.reserved = a.reserved + reservation
  saveState(a)
  return { 1, nowText, expiryText, int(available - reservation) }
end
