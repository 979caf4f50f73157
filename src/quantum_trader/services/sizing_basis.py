"""The sizing basis: the account every entry one bar's close decided is sized from.

Whoever publishes the market's bars reads the account just before it publishes them —
after the bar closed, before any decision on it can have placed an order — and writes
it here with the bar's open time. The intent bridge sizes each entry of that bar from it,
so the size of an entry depends on the market and the account at the bar's close, never
on which of the bar's exits and entries the exchange happened to fill first (the
backtester takes the same reading at the same point of its step). A missing or older
basis (a feed that could not read the account) leaves the bridge one fresh read per bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.domain.orders import AccountState

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SizingBasis:
    bar_time: int  # open time of the bar whose close it stands for
    equity: Decimal  # margin balance
    available: Decimal  # available balance

    @classmethod
    def of(cls, bar_time: int, account: AccountState) -> SizingBasis:
        return cls(bar_time, account.margin_balance, account.available_balance)


@dataclass(frozen=True, slots=True)
class RedisSizingBasis:
    redis: aioredis.Redis
    keys: Keys

    async def write(self, basis: SizingBasis) -> None:
        await self.redis.hset(
            self.keys.sizing_basis,
            mapping={
                "bar_time": basis.bar_time,
                "equity": str(basis.equity),
                "available": str(basis.available),
            },
        )

    async def read(self, bar_time: int) -> SizingBasis | None:
        """The basis for the bar opened at ``bar_time``; None when the latest is another's
        (or unreadable: the caller reads the account itself)."""
        raw = await self.redis.hgetall(self.keys.sizing_basis)
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        try:
            basis = SizingBasis(
                int(fields["bar_time"]), Decimal(fields["equity"]), Decimal(fields["available"])
            )
        except (KeyError, ValueError, ArithmeticError):
            return None
        return basis if basis.bar_time == bar_time else None


class AccountReader(Protocol):
    async def account(self) -> AccountState: ...


async def take_basis(exchange: AccountReader, store: RedisSizingBasis, bar_time: int) -> bool:
    """Read the account and write it as the basis of the bar opened at ``bar_time``;
    False when either fails (logged: the bridge then reads the account itself)."""
    try:
        await store.write(SizingBasis.of(bar_time, await exchange.account()))
    except Exception as exc:  # market data must flow whatever the account endpoint does
        log.warning("sizing basis not taken", bar_time=bar_time, err=repr(exc))
        return False
    return True
