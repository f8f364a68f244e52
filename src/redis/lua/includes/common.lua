-- Shared helpers, inlined into scripts by the loader (src/redis/script.ts).
-- Money is integer micro-dollars. Lua numbers are doubles, exact up to 2^53; callgate caps amounts at 1e15.
-- tostring() would print large numbers in exponent form, so every number written back goes through int().

local function int(x)
  return string.format('%.0f', x)
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- meter record of a live call: switch|reserved|committed|cost|tax|billedSec|talkMs|lastBeat|answeredAt
local function parseMeter(s)
  local sw, rsv, com, cost, tax, bsec, talk, beat, ans =
    string.match(s, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return {
    sw = sw, rsv = tonumber(rsv), com = tonumber(com), cost = tonumber(cost), tax = tonumber(tax),
    bsec = tonumber(bsec), talk = tonumber(talk), beat = tonumber(beat), ans = tonumber(ans),
  }
end

local function formatMeter(m)
  return table.concat({ m.sw, int(m.rsv), int(m.com), int(m.cost), int(m.tax), int(m.bsec), int(m.talk), int(m.beat), int(m.ans) }, '|')
end

local function loadAccount(key)
  local v = redis.call('HMGET', key, 'type', 'status', 'offReason', 'balance', 'creditLimit', 'reserved',
    'lowBalanceThreshold', 'lowArmed')
  if not v[1] then return nil end
  return {
    key = key, type = v[1], status = v[2], offReason = v[3] or '',
    balance = tonumber(v[4]) or 0, creditLimit = tonumber(v[5]) or 0, reserved = tonumber(v[6]) or 0,
    low = tonumber(v[7]) or 0, lowArmed = v[8] or '1',
    was = v[2] .. '/' .. (v[3] or ''),
  }
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

local function emitEvent(eventsKey, accountId, now, kind, a, extra)
  local fields = { 'MAXLEN', '~', '10000', '*', 'type', kind, 'account', accountId, 'at', int(now),
    'status', a.status, 'offReason', a.offReason, 'balance', int(a.balance) }
  if extra then for i = 1, #extra do fields[#fields + 1] = extra[i] end end
  redis.call('XADD', eventsKey, unpack(fields))
end

-- Applies the automatic status rules after the balance or reservations moved, then writes the account's
-- money fields back. reenableMinimum is given only by a payment: nothing else lifts an automatic OFF.
-- Returns true when the account went OFF here.
local function settleAccount(a, eventsKey, accountId, now, channel, reenableMinimum)
  local wentOff = false
  if a.status == 'on' and exhausted(a) then
    a.status = 'off'
    a.offReason = (a.type == 'postpaid') and 'credit_limit' or 'depleted'
    wentOff = true
  elseif a.status == 'off' and reenableMinimum and (a.offReason == 'depleted' or a.offReason == 'credit_limit')
    and not exhausted(a) and availableOf(a) >= reenableMinimum then
    a.status = 'on'
    a.offReason = ''
  end
  local funds = fundsOf(a)
  if funds < a.low then
    if a.lowArmed == '1' then
      a.lowArmed = '0'
      emitEvent(eventsKey, accountId, now, 'low_balance', a, { 'threshold', int(a.low) })
    end
  else
    a.lowArmed = '1'
  end
  redis.call('HSET', a.key, 'balance', int(a.balance), 'reserved', int(a.reserved), 'status', a.status,
    'offReason', a.offReason, 'lowArmed', a.lowArmed)
  if a.status .. '/' .. a.offReason ~= a.was then
    emitEvent(eventsKey, accountId, now, 'status_changed', a, { 'previous', a.was })
    if a.status == 'off' then redis.call('PUBLISH', channel, 'off|' .. accountId) end
  end
  return wentOff
end
