--[[
  Sets or revokes an account's customer CDR file access (src/admin/cdr-routes.ts checks every value first):
  its SFTP password hash, its authorized public keys, and whether refused attempts go into its files. Nothing
  is written for an account that does not exist. The SFTP server reads the hash at each login, so a change
  applies from the next login on.

  KEYS[1] account hash   KEYS[2] the account's cdrAccess hash
  ARGV[1] 'put' | 'revoke'
  ARGV[2] (put) the password's scrypt hash, '' to keep the stored one
  ARGV[3] (put) JSON array of normalised OpenSSH public key lines, '' to keep the stored list
  ARGV[4] (put) '1' include refused attempts, '0' leave them out, '' to keep the setting

  'revoke' removes the password and the keys and keeps the refused-attempts setting.

  Returns { 1, has password (1|0), keys JSON or false, refused or false } after the write, or { -1 } for an
  unknown account
]]

if redis.call('HEXISTS', KEYS[1], 'limits') == 0 then return { -1 } end
if ARGV[1] == 'revoke' then
  redis.call('HDEL', KEYS[2], 'password', 'keys')
else
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'password', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'keys', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'refused', ARGV[4]) end
end
local v = redis.call('HMGET', KEYS[2], 'password', 'keys', 'refused')
return { 1, v[1] and 1 or 0, v[2], v[3] }
