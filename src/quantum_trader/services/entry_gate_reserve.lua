-- Entry gate, checks 8-9 (open positions, gross exposure), then the reservation.
local n = tonumber(ARGV[12])
local open_count, exposure = 0, 0
for i = 1, n do
  local p = redis.call('HMGET', KEYS[9 + i], 'qty', 'entry_price')
  local q = tonumber(p[1] or '0') or 0
  if q > 0 then
    open_count = open_count + 1
    exposure = exposure + q * (tonumber(p[2]) or 0)
  else
    local lease = redis.call('GET', KEYS[9 + n + i])
    if lease then
      open_count = open_count + 1
      exposure = exposure + (tonumber(cjson.decode(lease)['notional']) or 0)
    end
  end
end
if not has_position and open_count >= tonumber(ARGV[7]) then return {'SKIP', 'max_positions'} end
if exposure + tonumber(ARGV[4]) > tonumber(ARGV[8]) then return {'SKIP', 'max_exposure'} end

-- The reservation carries a fencing token, unique and increasing: an executor places
-- only while the plan is still reserved under its own token (entry_gate_fence.lua).
local lease = cjson.decode(ARGV[10])
lease['token'] = redis.call('INCR', KEYS[10 + 2 * n])
local reservation = cjson.encode(lease)
redis.call('SET', KEYS[3], reservation, 'PX', ARGV[9])
redis.call('SET', KEYS[1], 'reserved:' .. reservation, 'PX', ARGV[11])
return {'ALLOW', reservation}
