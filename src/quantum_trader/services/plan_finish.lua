-- Finish a plan atomically: its done mark, the release of its own in-flight lease, the
-- cooldown, and its one result (only if no result was published yet: copies of a plan
-- that resumed together must still yield exactly one apply.result).
-- KEYS: 1 plan_done  2 inflight (or '' for exits)  3 cooldown  4 result effect marker
--       5 apply.result stream
-- ARGV: 1 done value  2 done ttl ms  3 cooldown ms (0 = none)  4 plan id
--       5 result payload  6 stream maxlen ('' = none)  7 now (market ms)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[2] ~= '' then
  local lease = redis.call('GET', KEYS[2])
  if lease and string.find(lease, ARGV[4], 1, true) then redis.call('DEL', KEYS[2]) end
end
if tonumber(ARGV[3]) > 0 then
  -- value: the market time the cooldown ends; the wall-clock TTL only cleans it up
  redis.call('SET', KEYS[3], tonumber(ARGV[7]) + tonumber(ARGV[3]), 'PX', ARGV[3])
end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'msg', ARGV[5])
else
  redis.call('XADD', KEYS[5], '*', 'msg', ARGV[5])
end
return 1
