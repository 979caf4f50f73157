"""The typed bus: publish messages and dead letters over a ``Transport``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import DeadLetter, Envelope, derive_id
from quantum_trader.bus.transport import Delivery, Transport
from quantum_trader.clock import Clock


@dataclass
class Bus:
    """Publishes typed messages; ``maxlen`` trims each stream approximately (XADD MAXLEN ~)."""

    transport: Transport
    clock: Clock
    keys: Keys = field(default_factory=Keys)
    maxlen: int | None = 100_000
    source: str = "quantum"

    async def publish(self, stream: str, message: Envelope) -> str:
        return await self.transport.publish(stream, encode(message), self.maxlen)

    async def publish_many(self, stream: str, messages: Sequence[Envelope]) -> list[str]:
        return await self.transport.publish_many(stream, [encode(m) for m in messages], self.maxlen)

    async def dead_letter(
        self, delivery: Delivery, *, group: str, consumer: str, reason: str, failures: int
    ) -> str:
        now = self.clock.now_ms()
        letter = DeadLetter(
            msg_id=derive_id("dead", delivery.stream, delivery.entry_id, group),
            ts_event=now,
            ts_init=now,
            source=consumer,
            reason=reason,
            source_stream=delivery.stream,
            original_id=delivery.entry_id,
            group=group,
            consumer=consumer,
            failures=failures,
            raw=delivery.raw.decode("utf-8", errors="replace"),
        )
        # Dead letters are never trimmed away by a burst of poison.
        return await self.transport.publish(self.keys.dead, encode(letter), None)
