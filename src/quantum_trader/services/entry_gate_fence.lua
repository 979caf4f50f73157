-- Fencing check before an entry order goes out: the plan is still reserved under this
-- executor's reservation (same owner, same token). 1: place; 0: superseded, do not.
-- Sharded, also: the executor still holds the symbol's shard lease. If it lost it, its
-- reservation is given up (nothing was placed) so the shard's owner judges the plan
-- afresh: -1, do not place.
-- KEYS: 1 plan_done  (sharded: 2 inflight  3 the shard lease)
-- ARGV: 1 the executor's reservation (lease json)  (sharded: 2 its grant of the lease)
if redis.call('GET', KEYS[1]) ~= 'reserved:' .. ARGV[1] then return 0 end
if #KEYS >= 3 and redis.call('GET', KEYS[3]) ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return -1
end
return 1
