--[[
  Records one rule's new alert state for an account, if nobody changed it since the caller read it (the
  state machine itself is pure: src/traffic/judge.ts nextAlertState). With an alert it raises the event in
  the same step, so that however many instances judge the account, a crossing alerts exactly once. A
  critical alert also marks the account "suspension recommended", and, when the account opted in to
  autoSuspend, turns it OFF with reason msa_violation, which only an engineer lifts; like any OFF this ends
  its live calls on every switch (through the change channel).

  KEYS[1] account hash   KEYS[2] traffic alerts hash   KEYS[3] events stream   KEYS[4] traffic samples list

  ARGV[1] accountId   ARGV[2] the rule's field (<window>|<rule>)   ARGV[3] the state read ('' when none)
  ARGV[4] the new state   ARGV[5] alert: '' | 'warning' | 'critical'   ARGV[6] window   ARGV[7] rule
  ARGV[8] the figure judged   ARGV[9] the threshold crossed   ARGV[10] the window's figures (JSON)
  ARGV[11] '1' when the account suspends itself on a critical   ARGV[12] change channel
  ARGV[13] most sample call ids carried

  Returns { 1, alerted (0|1), suspended (0|1) }, { 0 } when the state changed meanwhile (read again),
  or { -1 } for an unknown account
]]
--- @include "common"

local field = ARGV[2]
local current = redis.call('HGET', KEYS[2], field) or ''
if current ~= ARGV[3] then return { 0 } end
local a = loadAccount(KEYS[1])
if not a then return { -1 } end
redis.call('HSET', KEYS[2], field, ARGV[4])
local level = ARGV[5]
if level == '' then return { 1, 0, 0 } end

local now = nowMs()
local extra = { 'window', ARGV[6], 'rule', ARGV[7], 'value', ARGV[8], 'threshold', ARGV[9], 'figures', ARGV[10] }
local suspended = 0
if level == 'critical' then
  local keep = tonumber(ARGV[13])
  local samples = keep > 0 and redis.call('LRANGE', KEYS[4], 0, keep - 1) or {}
  extra[#extra + 1] = 'samples'
  extra[#extra + 1] = table.concat(samples, ',')
  extra[#extra + 1] = 'suspensionRecommended'
  extra[#extra + 1] = '1'
  redis.call('HSET', KEYS[2], 'recommended', ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8] .. '|' .. int(now))
  if ARGV[11] == '1' and not (a.status == 'off' and (a.offReason == 'manual' or a.offReason == 'msa_violation')) then
    suspended = 1
  end
end
emitEvent(KEYS[3], ARGV[1], now, 'traffic_' .. level, a, extra, ARGV[12])
if suspended == 1 then
  a.status, a.offReason = 'off', 'msa_violation'
  redis.call('HSET', KEYS[1], 'statusNote', 'suspended for ' .. ARGV[7] .. ' in ' .. ARGV[6], 'statusChangedAt', int(now))
  settleAccount(a, KEYS[3], ARGV[1], now, ARGV[12], nil)
end
return { 1, 1, suspended }
