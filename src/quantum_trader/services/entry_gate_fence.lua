-- Fencing check before an entry order goes out: the plan is still reserved under this
-- executor's reservation (same owner, same token). 1: place; 0: superseded, do not.
-- KEYS: 1 plan_done   ARGV: 1 the executor's reservation (lease json)
if redis.call('GET', KEYS[1]) == 'reserved:' .. ARGV[1] then return 1 end
return 0
