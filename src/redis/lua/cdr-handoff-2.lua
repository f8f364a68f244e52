--[[
  Hands an account's written CDRs over to its customer-file stream (src/export): each entry of the CDR
  stream that a CDR writer has made durable in its switch's files moves to the export stream, copied field
  for field and deleted, in one atomic step. An entry no longer in the CDR stream was handed over already
  (a retry after a lost reply): it is skipped, so each entry reaches the export stream once.

  Refused attempts never were in Redis: their CDRs (JSON, src/cdr/builder.ts) are appended as given.

  KEYS[1] CDR stream   KEYS[2] export stream
  ARGV[1] n, the number of entry ids   ARGV[2..n+1] entry ids   ARGV[n+2..] refused-attempt CDRs, JSON

  Returns { moved, refusedAppended }
]]
local n = tonumber(ARGV[1])
local moved = 0
for i = 2, n + 1 do
  local id = ARGV[i]
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if found[1] then
    redis.call('XADD', KEYS[2], '*', unpack(found[1][2]))
    redis.call('XDEL', KEYS[1], id)
    moved = moved + 1
  end
end
local refused = 0
for i = n + 2, #ARGV do
  redis.call('XADD', KEYS[2], '*', 'rejected', ARGV[i])
  refused = refused + 1
end
return { moved, refused }
