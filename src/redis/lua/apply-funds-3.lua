--[[
  Applies a payment once per payment id. A payment lifts an automatic OFF (depleted or credit_limit)
  once available funds reach the re-enable minimum; a manual OFF stays. Live calls of the account are
  told through the change channel so that a call short of funds extends its paid time.

  KEYS[1] account hash   KEYS[2] payments hash   KEYS[3] events stream
  ARGV[1] accountId   ARGV[2] paymentId   ARGV[3] amount, micro-dollars (> 0)
  ARGV[4] re-enable minimum, micro-dollars   ARGV[5] change channel

  Returns
    { 1, balance, status, offReason }        applied
    { 2, balance, status, offReason }        this payment id was already applied: nothing changed
    { -1 }                                   unknown account
    { -9, balance }                          the payment would take the balance past 1e15 micro-dollars
]]
--- @include "common"

local a = loadAccount(KEYS[1])
if not a then return { -1 } end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return { 2, int(a.balance), a.status, a.offReason }
end
-- money must stay exact in a double and in every integer the scripts print: no balance past 1e15 micros
if a.balance + tonumber(ARGV[3]) > 1e15 then return { -9, int(a.balance) } end
local now = nowMs()
a.balance = a.balance + tonumber(ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. '|' .. int(now))
settleAccount(a, KEYS[3], ARGV[1], now, ARGV[5], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[5], 'funds|' .. ARGV[1])
return { 1, int(a.balance), a.status, a.offReason }
