-- Shared helpers, inlined into scripts by the loader (src/redis/script.ts).
-- Money is integer micro-dollars. Lua numbers are doubles, exact up to 2^53; callgate caps amounts at 1e15.
-- tostring() would print large numbers in exponent form, so every number written back goes through int().
--
-- The account hash keeps what admission reads on every INVITE in two packed fields, so that admit reads
-- and writes one hash field each instead of ten (src/redis/codecs/account-hash.ts decodes them for TypeScript):
--   limits = type|creditLimit|channels|cps|burst|lowBalanceThreshold      (written by account-put, set-limits)
--   state  = status|offReason|balance|reserved|tokens|tokensAt|lowArmed|burn|burnAt   (written by the scripts only)
-- burn is the account's spend rate in micro-dollars per second, an exponentially decaying average of
-- every debit (time constant BURN_TAU_S), which estimated depletion reads.

local BURN_TAU_S = 300

local format, match = string.format, string.match

-- Amounts and timestamps are whole numbers well inside 2^53: '%d' prints them in half the time of '%.0f',
-- which rounds anything else (scripts run this a dozen times per call)
local function int(x)
  if x % 1 == 0 and x < 9007199254740992 and x > -9007199254740992 then return format('%d', x) end
  return format('%.0f', x)
end

-- a JSON object held in a hash field (traffic settings, fraud blocks and lifts): its table, or nil when the
-- text is missing or is not a JSON object
local function decodeObject(text)
  if not text then return nil end
  local ok, value = pcall(cjson.decode, text)
  if ok and type(value) == 'table' then return value end
  return nil
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function parseAccount(key, limits, state)
  if not limits or not state then return nil end
  local typ, creditLimit, channels, cps, burst, low = match(limits, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  local status, offReason, balance, reserved, tokens, tokensAt, lowArmed, burn, burnAt =
    match(state, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|?([^|]*)|?([^|]*)$')
  return {
    key = key, type = typ, creditLimit = tonumber(creditLimit), channels = tonumber(channels), cps = tonumber(cps),
    burst = tonumber(burst), low = tonumber(low),
    status = status, offReason = offReason, balance = tonumber(balance), reserved = tonumber(reserved),
    tokens = tonumber(tokens), tokensAt = tonumber(tokensAt), lowArmed = lowArmed,
    burn = tonumber(burn) or 0, burnAt = tonumber(burnAt) or 0,
    wasStatus = status, wasReason = offReason,
  }
end

local function loadAccount(key)
  local v = redis.call('HMGET', key, 'limits', 'state')
  return parseAccount(key, v[1], v[2])
end

-- The scripts every call runs decode only the part of the account they use: converting text to numbers
-- and back is most of their cost. A part left undecoded is kept as its text and formatState writes it
-- back as it was (a.bucket = tokens|tokensAt, a.tail = lowArmed|burn|burnAt); its fields are absent from
-- the table, so code that uses them fails loudly instead of writing back a stale value. A state of another
-- shape than the 9 fields scripts write (one written before the burn rate existed) is decoded in full.

-- admit: funds, the CPS bucket and the channel limit; not the low-balance rule nor the burn rate
local function loadAccountForAdmit(key)
  local v = redis.call('HMGET', key, 'limits', 'state')
  local limits, state = v[1], v[2]
  if not limits or not state then return nil end
  local typ, creditLimit, channels, cps, burst = match(limits, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|[^|]*$')
  local status, offReason, balance, reserved, tokens, tokensAt, tail =
    match(state, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*|[^|]*|[^|]*)$')
  if not typ or not status then return parseAccount(key, limits, state) end
  return {
    key = key, type = typ, creditLimit = tonumber(creditLimit), channels = tonumber(channels), cps = tonumber(cps),
    burst = tonumber(burst), status = status, offReason = offReason, balance = tonumber(balance),
    reserved = tonumber(reserved), tokens = tonumber(tokens), tokensAt = tonumber(tokensAt), tail = tail,
    wasStatus = status, wasReason = offReason,
  }
end

-- tick, finalize: the money, the automatic OFF and low-balance rules, the burn rate; not the CPS bucket
-- nor the channel limit
local function loadAccountForBilling(key)
  local v = redis.call('HMGET', key, 'limits', 'state')
  local limits, state = v[1], v[2]
  if not limits or not state then return nil end
  local typ, creditLimit, low = match(limits, '^([^|]*)|([^|]*)|[^|]*|[^|]*|[^|]*|([^|]*)$')
  local status, offReason, balance, reserved, bucket, lowArmed, burn, burnAt =
    match(state, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*|[^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if not typ or not status then return parseAccount(key, limits, state) end
  return {
    key = key, type = typ, creditLimit = tonumber(creditLimit), low = tonumber(low),
    status = status, offReason = offReason, balance = tonumber(balance), reserved = tonumber(reserved),
    bucket = bucket, lowArmed = lowArmed, burn = tonumber(burn) or 0, burnAt = tonumber(burnAt) or 0,
    wasStatus = status, wasReason = offReason,
  }
end

local function formatState(a)
  local bucket = a.bucket
  if not bucket or a.tokens ~= nil or a.tokensAt ~= nil then
    bucket = (a.tokens and format('%.6f', a.tokens) or '') .. '|' .. (a.tokensAt and int(a.tokensAt) or '')
  end
  local tail = a.tail
  if not tail or a.lowArmed ~= nil or a.burn ~= nil then
    tail = a.lowArmed .. '|' .. format('%.3f', a.burn) .. '|' .. int(a.burnAt)
  end
  return a.status .. '|' .. a.offReason .. '|' .. int(a.balance) .. '|' .. int(a.reserved) .. '|' .. bucket .. '|' .. tail
end

local function saveState(a)
  redis.call('HSET', a.key, 'state', formatState(a))
end

-- live call record: switch|reserved|committed|cost|tax|billedSec|talkMs|lastBeat|answeredAt, a newline,
-- then the static CDR fields (JSON, never decoded here; JSON text holds no raw newline)
-- callFields gives every field as its text, decoding nothing; joinCall puts texts back together
local function callFields(s)
  return match(s, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|\n]*)\n(.*)$')
end

local function joinCall(sw, rsv, com, cost, tax, bsec, talk, beat, ans, static)
  return sw .. '|' .. rsv .. '|' .. com .. '|' .. cost .. '|' .. tax .. '|' .. bsec .. '|' .. talk .. '|' .. beat .. '|' .. ans .. '\n' .. static
end

local function parseCall(s)
  local sw, rsv, com, cost, tax, bsec, talk, beat, ans, static = callFields(s)
  return {
    sw = sw, rsv = tonumber(rsv), com = tonumber(com), cost = tonumber(cost), tax = tonumber(tax),
    bsec = tonumber(bsec), talk = tonumber(talk), beat = tonumber(beat), ans = tonumber(ans), static = static,
  }
end

-- moves the balance by a call's charge (negative refunds a little at finalize) and feeds the burn rate
local function debit(a, amount, now)
  a.balance = a.balance - amount
  local decay = 0
  if a.burnAt > 0 and now > a.burnAt then decay = (now - a.burnAt) / 1000 end
  a.burn = a.burn * math.exp(-decay / BURN_TAU_S) + amount / BURN_TAU_S
  if a.burn < 0 then a.burn = 0 end
  a.burnAt = now
end

-- funds before reservations: prepaid balance, or what is left of a postpaid credit line
local function fundsOf(a)
  if a.type == 'postpaid' then return a.balance + a.creditLimit end
  return a.balance
end

local function availableOf(a)
  return fundsOf(a) - a.reserved
end

local function exhausted(a)
  if a.type == 'postpaid' then return -a.balance >= a.creditLimit end
  return a.balance <= 0
end

-- channel: the change channel; 'event|<accountId>' on it wakes the webhook dispatchers (src/notify) at once,
-- and their periodic scan finds the event anyway if the message is lost or channel is not given
local function emitEvent(eventsKey, accountId, now, kind, a, extra, channel)
  -- never trimmed here: an undelivered event stays until it is acknowledged, or until the overflow guard
  -- (src/notify/overflow.ts) moves it to the dead letters because the account holds too many
  local fields = { '*', 'type', kind, 'account', accountId, 'at', int(now),
    'status', a.status, 'offReason', a.offReason, 'balance', int(a.balance) }
  if extra then for i = 1, #extra do fields[#fields + 1] = extra[i] end end
  redis.call('XADD', eventsKey, unpack(fields))
  if channel and channel ~= '' then redis.call('PUBLISH', channel, 'event|' .. accountId) end
end

-- Applies the automatic status rules after the balance or reservations moved, then writes the state
-- back. reenableMinimum is given only by a payment: nothing else lifts an automatic OFF.
local function settleAccount(a, eventsKey, accountId, now, channel, reenableMinimum)
  if a.status == 'on' and exhausted(a) then
    a.status = 'off'
    a.offReason = (a.type == 'postpaid') and 'credit_limit' or 'depleted'
  elseif a.status == 'off' and reenableMinimum and (a.offReason == 'depleted' or a.offReason == 'credit_limit')
    and not exhausted(a) and availableOf(a) >= reenableMinimum then
    a.status = 'on'
    a.offReason = ''
  end
  if fundsOf(a) < a.low then
    if a.lowArmed == '1' then
      a.lowArmed = '0'
      emitEvent(eventsKey, accountId, now, 'low_balance', a, { 'threshold', int(a.low) }, channel)
    end
  else
    a.lowArmed = '1'
  end
  saveState(a)
  if a.status ~= a.wasStatus or a.offReason ~= a.wasReason then
    emitEvent(eventsKey, accountId, now, 'status_changed', a, { 'previous', a.wasStatus .. '/' .. a.wasReason }, channel)
    if a.status == 'off' then redis.call('PUBLISH', channel, 'off|' .. accountId) end
  end
end
