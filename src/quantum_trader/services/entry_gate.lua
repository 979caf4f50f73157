-- Atomic entry gate: check every entry rule and reserve the symbol in one step.
-- The same rule as quantum_trader.decide.entry_gates.check_entry_gate, same check order;
-- tests run one table of cases against both.
-- KEYS: 1 plan_done  2 position  3 inflight  4 cooldown  5 risk_state  6 kill_switch
--       7 risk_supervisor  8 risk_circuit  9 positions index  then N position keys and
--       N inflight keys of every traded symbol (for open-position count and exposure)
-- ARGV: 1 now_ms  2 plan_expires_at  3 plan_side  4 plan_notional  5 allow_pyramiding
--       6 max_adds  7 max_open_positions  8 max_gross_exposure  9 lease_ms
--      10 lease json  11 plan_done ttl ms  12 N
local now = tonumber(ARGV[1])
local done = redis.call('GET', KEYS[1])
if done then
  if string.sub(done, 1, 9) == 'reserved:' then return {'RESUME', string.sub(done, 10)} end
  return {'SKIP', 'duplicate_plan'}
end
if tonumber(ARGV[2]) < now then return {'SKIP', 'expired'} end

local severity = {NORMAL = 0, REDUCE_ONLY = 1, HALT = 2}
local mode = 'NORMAL'
local function raise(m) if severity[m] and severity[m] > severity[mode] then mode = m end end
local state = redis.call('GET', KEYS[5])
if state then raise(cjson.decode(state)['mode']) end
if redis.call('EXISTS', KEYS[6]) == 1 then raise('HALT') end
local sup = redis.call('GET', KEYS[7])
if sup then raise(cjson.decode(sup)['mode']) end
if redis.call('EXISTS', KEYS[8]) == 1 then raise('HALT') end
if mode == 'HALT' then return {'SKIP', 'risk_halt'} end
if mode == 'REDUCE_ONLY' then return {'SKIP', 'risk_reduce_only'} end

if redis.call('EXISTS', KEYS[3]) == 1 then return {'SKIP', 'inflight'} end
local pos = redis.call('HMGET', KEYS[2], 'side', 'qty', 'entry_orders')
local has_position = pos[1] and tonumber(pos[2]) and tonumber(pos[2]) > 0
if has_position then
  local add_ok = pos[1] == ARGV[3] and ARGV[5] == '1'
    and tonumber(pos[3] or '1') - 1 < tonumber(ARGV[6])
  if not add_ok then return {'SKIP', 'position_exists'} end
end
if redis.call('EXISTS', KEYS[4]) == 1 then return {'SKIP', 'cooldown'} end

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
