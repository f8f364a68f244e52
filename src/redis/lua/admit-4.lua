--[[
  Admits one call: status, funds, CPS bucket, then channels on this switch, in that order; the first
  failure decides. On success writes the lease, the first reservation and the call's record.

  KEYS[1] account hash       {a:<id>}:acct
  KEYS[2] leases of switch   {a:<id>}:leases:<switchId>
  KEYS[3] live calls hash    {a:<id>}:calls
  KEYS[4] lease expiries     {a:<id>}:expiry

  ARGV[1] callId (callgate's own id)   ARGV[2] switchId
  ARGV[3] first reservation, micro-dollars (priced by src/rating)
  ARGV[4] lease TTL, ms                ARGV[5] static CDR fields (JSON text, stored as given)

  Returns
    { 1, nowMs, leaseExpiryMs, availableAfter }   admitted
    { -1 }                                         unknown account
    { -2, offReason }                              account OFF
    { -3, available }                              not enough funds for the first reservation
    { -4, retryAfterMs }                           CPS bucket empty
    { -5, inUse }                                  channel limit on this switch
    { -7 }                                         callId already live
]]
--- @include "common"
--- @include "admit"

return admitCall()
