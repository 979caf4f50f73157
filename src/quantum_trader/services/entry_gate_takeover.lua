-- Take over an entry reservation whose owner is provably gone: the plan is still
-- reserved exactly as the caller saw it, and the owner's liveness key has expired (its
-- process died or stopped beating). The new reservation has a new fencing token, so
-- the old owner, should it wake, can no longer place (entry_gate_fence.lua).
-- Sharded, the owner is also gone once the caller holds the symbol's shard lease: a
-- live owner that lost its shard (stopped past its lease) must not finish the plan.
-- KEYS: 1 plan_done  2 the owner's liveness key  3 fencing token counter  4 inflight
--       (sharded: 5 the symbol's shard lease)
-- ARGV: 1 the reservation as seen (lease json)  2 the new owner  3 done ttl ms
--       (sharded: 4 the caller's grant of the shard lease)
local seen = 'reserved:' .. ARGV[1]
local done = redis.call('GET', KEYS[1])
if done ~= seen then
  if done and string.sub(done, 1, 9) == 'reserved:' then return {'CHANGED', string.sub(done, 10)} end
  return {'DONE', done or ''}
end
local shard_is_callers = #KEYS >= 5 and redis.call('GET', KEYS[5]) == ARGV[4]
if redis.call('EXISTS', KEYS[2]) == 1 and not shard_is_callers then return {'BUSY', ARGV[1]} end
local lease = cjson.decode(ARGV[1])
lease['owner'] = ARGV[2]
lease['token'] = redis.call('INCR', KEYS[3])
local reservation = cjson.encode(lease)
redis.call('SET', KEYS[1], 'reserved:' .. reservation, 'PX', ARGV[3])
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('SET', KEYS[4], reservation, 'KEEPTTL')
end
return {'TAKEN', reservation}
