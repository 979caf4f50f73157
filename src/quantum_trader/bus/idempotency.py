"""Record "the effect of message X is done" atomically with the effect itself.

A handler expresses its effect as a list of writes; ``apply_once`` performs them and
marks ``effect_id`` done in one atomic step (a Lua script on Redis), or does nothing if
the mark already exists. A redelivered message therefore changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys


@dataclass(frozen=True, slots=True)
class SetKey:
    key: str
    value: str
    ttl_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HashSet:
    key: str
    mapping: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DeleteKey:
    key: str


@dataclass(frozen=True, slots=True)
class StreamAdd:
    stream: str
    payload: bytes
    maxlen: int | None = None


Write = SetKey | HashSet | DeleteKey | StreamAdd

# KEYS[1] = done marker; ARGV[1] = marker TTL ms; then ops as (opcode, key, nargs, args...)
_APPLY_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local i = 2
while i <= #ARGV do
  local op, key, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, n do args[j] = ARGV[i + 2 + j] end
  if op == 'SET' then
    if args[2] ~= '' then redis.call('SET', key, args[1], 'PX', args[2])
    else redis.call('SET', key, args[1]) end
  elseif op == 'HSET' then redis.call('HSET', key, unpack(args))
  elseif op == 'DEL' then redis.call('DEL', key)
  elseif op == 'XADD' then
    if args[2] ~= '' then redis.call('XADD', key, 'MAXLEN', '~', args[2], '*', 'msg', args[1])
    else redis.call('XADD', key, '*', 'msg', args[1]) end
  end
  i = i + 3 + n
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
"""


def _flatten(writes: Sequence[Write]) -> list[str | bytes]:
    argv: list[str | bytes] = []
    for w in writes:
        if isinstance(w, SetKey):
            argv += ["SET", w.key, "2", w.value, str(w.ttl_ms or "")]
        elif isinstance(w, HashSet):
            flat = [x for pair in w.mapping for x in pair]
            argv += ["HSET", w.key, str(len(flat)), *flat]
        elif isinstance(w, DeleteKey):
            argv += ["DEL", w.key, "0"]
        else:
            argv += ["XADD", w.stream, "2", w.payload, str(w.maxlen or "")]
    return argv


class EffectStore(Protocol):
    async def apply_once(
        self, effect_id: str, writes: Sequence[Write], ttl_ms: int = 7 * 86_400_000
    ) -> bool:
        """Apply ``writes`` unless ``effect_id`` is done; True when applied now."""
        ...

    async def is_done(self, effect_id: str) -> bool: ...


class RedisEffectStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._script = client.register_script(_APPLY_ONCE)

    async def apply_once(
        self, effect_id: str, writes: Sequence[Write], ttl_ms: int = 7 * 86_400_000
    ) -> bool:
        result = await self._script(
            keys=[self.keys.effect(effect_id)], args=[str(ttl_ms), *_flatten(writes)]
        )
        return bool(result)

    async def is_done(self, effect_id: str) -> bool:
        return bool(await self.client.exists(self.keys.effect(effect_id)))


class MemoryEffectStore:
    """Same contract in memory; ``data`` holds strings, hashes and stream payloads."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.data: dict[str, object] = {}
        self.streams: dict[str, list[bytes]] = {}

    async def apply_once(
        self, effect_id: str, writes: Sequence[Write], ttl_ms: int = 7 * 86_400_000
    ) -> bool:
        marker = self.keys.effect(effect_id)
        if marker in self.data:
            return False
        for w in writes:
            if isinstance(w, SetKey):
                self.data[w.key] = w.value
            elif isinstance(w, HashSet):
                bucket = self.data.setdefault(w.key, {})
                assert isinstance(bucket, dict)
                bucket.update(dict(w.mapping))
            elif isinstance(w, DeleteKey):
                self.data.pop(w.key, None)
            else:
                self.streams.setdefault(w.stream, []).append(w.payload)
        self.data[marker] = "1"
        return True

    async def is_done(self, effect_id: str) -> bool:
        return self.keys.effect(effect_id) in self.data
