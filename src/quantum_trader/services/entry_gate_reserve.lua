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

redis.call('SET', KEYS[3], ARGV[10], 'PX', ARGV[9])
redis.call('SET', KEYS[1], 'reserved:' .. ARGV[10], 'PX', ARGV[11])
return {'ALLOW', ARGV[10]}
