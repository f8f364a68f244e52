--[[
  Applies a payment once per payment id. A payment lifts an automatic OFF (depleted or credit_limit)
  once available funds reach the re-enable minimum; a manual OFF stays. Live calls of the account are
  told through the change channel so that a call short of funds extends its paid time.

  A payment id is remembered for the retention window: the same id with the same amount is a duplicate
  (nothing changes), with another amount a conflict (nothing changes). Each record is indexed by its time
  in a sorted set, and every applied payment drops up to PRUNE_BATCH records older than the window, so the
  records stay bounded without a scan of the keyspace. A record older than the window is forgotten even
  before it is pruned. Records written before the index existed are indexed a page at a time (HSCAN of
  this account's payments hash only, its cursor kept in the account hash).

  KEYS[1] account hash   KEYS[2] payments hash (paymentId -> amount|atMs)
  KEYS[3] payments index (sorted set: paymentId by atMs)   KEYS[4] events stream
  ARGV[1] accountId   ARGV[2] paymentId   ARGV[3] amount, micro-dollars (> 0)
  ARGV[4] re-enable minimum, micro-dollars   ARGV[5] change channel
  ARGV[6] now, epoch ms   ARGV[7] retention window, ms   ARGV[8] updatedAt (ISO 8601)

  Returns
    { 1, balance, status, offReason }        applied
    { 2, balance, status, offReason }        this payment id was already applied for this amount: nothing changed
    { -10, amount, atMs }                    this payment id was applied for another amount: nothing changed
    { -1 }                                   unknown account
    { -9, balance }                          the payment would take the balance past 1e15 micro-dollars
]]
--- @include "common"

local PRUNE_BATCH = 100

local a = loadAccount(KEYS[1])
if not a then return { -1 } end
local now = tonumber(ARGV[6])
local cutoff = now - tonumber(ARGV[7])
local amount = tonumber(ARGV[3])

local record = redis.call('HGET', KEYS[2], ARGV[2])
if record then
  local storedAmount, storedAt = string.match(record, '^([^|]*)|?([^|]*)$')
  storedAt = tonumber(storedAt) or now
  if storedAt >= cutoff then
    if tonumber(storedAmount) == amount then return { 2, int(a.balance), a.status, a.offReason } end
    return { -10, int(tonumber(storedAmount) or 0), int(storedAt) }
  end
end
-- money must stay exact in a double and in every integer the scripts print: no balance past 1e15 micros
if a.balance + amount > 1e15 then return { -9, int(a.balance) } end

-- records from before the index: index one page of them per payment until none is left
if redis.call('HLEN', KEYS[2]) > redis.call('ZCARD', KEYS[3]) then
  local cursor = redis.call('HGET', KEYS[1], 'paymentsIndexCursor') or '0'
  local page = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', PRUNE_BATCH)
  local entries = page[2]
  for i = 1, #entries, 2 do
    local at = tonumber(string.match(entries[i + 1], '|([^|]*)$')) or now
    redis.call('ZADD', KEYS[3], 'NX', at, entries[i])
  end
  redis.call('HSET', KEYS[1], 'paymentsIndexCursor', page[1])
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. int(cutoff), 'LIMIT', 0, PRUNE_BATCH)
if #expired > 0 then
  redis.call('HDEL', KEYS[2], unpack(expired))
  redis.call('ZREM', KEYS[3], unpack(expired))
end

a.balance = a.balance + amount
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. '|' .. int(now))
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[8])
settleAccount(a, KEYS[4], ARGV[1], now, ARGV[5], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[5], 'funds|' .. ARGV[1])
return { 1, int(a.balance), a.status, a.offReason }
