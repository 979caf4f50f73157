-- A symbol shard's lease: one owner at a time, each grant with a new fencing token.
-- The value is '{"owner":NAME,"token":N}', compared as the exact string the grant
-- returned, so a renewal or a release succeeds only while the lease is still the
-- caller's own grant (a lease that expired and was granted again has another token).
-- KEYS: 1 the shard's lease key  2 the service's token counter  3 the shard's want key
-- ARGV: 1 'acquire' | 'renew' | 'release'
--   acquire: 2 owner  3 lease ms  4 the value this owner held last ('' = none)
--            5 '1' when the caller prefers this shard (a want by another does not stop it)
--   renew:   2 the value held  3 lease ms
--   release: 2 the value held
-- Returns {1, value} on success, {0, the current value or ''} otherwise.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'acquire' then
  if current then
    if ARGV[4] ~= '' and current == ARGV[4] then
      -- still this owner's grant (its renewal failed, e.g. a lost connection): same token
      redis.call('PEXPIRE', KEYS[1], ARGV[3])
      return {1, current}
    end
    return {0, current}
  end
  if ARGV[5] ~= '1' then
    -- a process that prefers this shard asked for it: leave it free for that process
    local want = redis.call('GET', KEYS[3])
    if want and want ~= ARGV[2] then return {0, ''} end
  end
  local token = redis.call('INCR', KEYS[2])
  local value = '{"owner":' .. cjson.encode(ARGV[2]) .. ',"token":' .. token .. '}'
  redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
  return {1, value}
end
if current ~= ARGV[2] then return {0, current or ''} end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return {1, current}
