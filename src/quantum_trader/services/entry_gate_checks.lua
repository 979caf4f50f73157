-- Entry gate, checks 1-7 (duplicate, expiry, risk mode, in-flight, position, cooldown).
-- The same rule as quantum_trader.decide.entry_gates.check_entry_gate, same check order;
-- tests run one table of cases against both. entry_gate.py composes this with
-- entry_gate_reserve.lua into the atomic check-and-reserve script, and on its own (read
-- only) into the cheap pre-check that lets duplicates skip without sending every key.
-- KEYS: 1 plan_done  2 position  3 inflight  4 cooldown  5 risk_state  6 kill_switch
--       7 risk_supervisor  8 risk_circuit  9 positions index  then N position keys and
--       N inflight keys of every traded symbol (for open-position count and exposure),
--       then the fencing token counter, the epoch, the symbol's entry pause and
--       (sharded) the caller's shard lease key
-- ARGV: 1 now_ms  2 plan_expires_at  3 plan_side  4 plan_notional  5 allow_pyramiding
--       6 max_adds  7 max_open_positions  8 max_gross_exposure  9 lease_ms
--      10 lease json  11 plan_done ttl ms  12 N
--      13 index of the epoch key in KEYS  14 the epoch this system expects ('' = none)
--      15 the oldest risk state accepted (ms)
--      16 index of the symbol's entry-pause key in KEYS (an operator's lock)
--      17 index of the caller's shard lease key in KEYS ('' or absent: unsharded)
--      18 the caller's grant of that lease, exactly as stored
local now = tonumber(ARGV[1])
-- Sharded: only the owner of the symbol's shard may judge its plans, a stale owner (its
-- lease lost while it was stopped) not even a duplicate; the plan stays for the owner.
if ARGV[17] and ARGV[17] ~= '' and redis.call('GET', KEYS[tonumber(ARGV[17])]) ~= ARGV[18] then
  return {'SKIP', 'not_shard_owner'}
end
-- 0. The store must still hold this system's state: after a FLUSHALL, a failover to an
-- empty replica or an eviction, every check below would read "nothing there".
if ARGV[14] ~= '' and redis.call('GET', KEYS[tonumber(ARGV[13])]) ~= ARGV[14] then
  return {'SKIP', 'state_lost'}
end
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
local stale = false
if state then
  local risk = cjson.decode(state)
  raise(risk['mode'])
  local updated = tonumber(risk['updated_at'])
  stale = updated ~= nil and now - updated > tonumber(ARGV[15])
end
if redis.call('EXISTS', KEYS[6]) == 1 then raise('HALT') end
local sup = redis.call('GET', KEYS[7])
if sup then raise(cjson.decode(sup)['mode']) end
if redis.call('EXISTS', KEYS[8]) == 1 then raise('HALT') end
if mode == 'HALT' then return {'SKIP', 'risk_halt'} end
if mode == 'REDUCE_ONLY' then return {'SKIP', 'risk_reduce_only'} end
if stale then return {'SKIP', 'risk_state_stale'} end
-- An operator's pause of this symbol's entries: JSON holding the market time it ends.
-- The wall-clock TTL only cleans the key up; an unreadable lock counts as held.
local pause = redis.call('GET', KEYS[tonumber(ARGV[16])])
if pause then
  local ok, lock = pcall(cjson.decode, pause)
  local ends = ok and type(lock) == 'table' and tonumber(lock['until']) or nil
  if ends == nil or ends > now then return {'SKIP', 'symbol_paused'} end
end

if redis.call('EXISTS', KEYS[3]) == 1 then return {'SKIP', 'inflight'} end
local pos = redis.call('HMGET', KEYS[2], 'side', 'qty', 'entry_orders')
local has_position = pos[1] and tonumber(pos[2]) and tonumber(pos[2]) > 0
if has_position then
  local add_ok = pos[1] == ARGV[3] and ARGV[5] == '1'
    and tonumber(pos[3] or '1') - 1 < tonumber(ARGV[6])
  if not add_ok then return {'SKIP', 'position_exists'} end
end
-- The cooldown key holds the market time (ms) it ends: a trading rule runs on the
-- system's clock, not on Redis's wall-clock TTL (which only cleans the key up).
local cool_until = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
if cool_until > now then return {'SKIP', 'cooldown'} end

