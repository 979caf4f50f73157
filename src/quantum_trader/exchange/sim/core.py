"""``MatchingCore``: one simulated Binance USDⓈ-M account, pure and synchronous.

Time is handed in (ms); randomness comes only from a ``random.Random(seed)``; nothing
reads the wall clock. Each call appends execution events, which the caller drains with
``drain_events()`` (``events=False``: none are built; a backtest reads its fills from the
history with ``fills_from``). The async ``SimExchange`` and the HTTP front are thin shells
on top. ``rules`` (:class:`~quantum_trader.exchange.sim.book.MatchingRules`) switch the
run to continuous quantities and prices and to the ``LEVELS`` bar model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal

import quantum_trader.exchange.sim.errors as errors
import quantum_trader.exchange.sim.market as market
import quantum_trader.exchange.sim.market_data as market_data
from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import AccountState, Fill, Order, OrderRequest, PositionState
from quantum_trader.exchange.interface import ExecutionEvent, FundingRate, MarkPrice
from quantum_trader.exchange.sim.account import Account, Ledger
from quantum_trader.exchange.sim.amend import amend_order
from quantum_trader.exchange.sim.book import (
    BINANCE_RULES,
    CONDITIONAL,
    BarModel,
    MatchingRules,
    SymbolBook,
    WorkingOrder,
)
from quantum_trader.exchange.sim.execution import (
    MarginSummary,
    NoEvents,
    account_state,
    available_balance,
    emit_order,
    finish,
    margin_floats,
    margin_summary,
    margin_totals,
)
from quantum_trader.exchange.sim.funding import FundingSchedule
from quantum_trader.exchange.sim.history import FundingPayment, HistorySnapshot
from quantum_trader.exchange.sim.liquidation import check_liquidation
from quantum_trader.exchange.sim.matching import (
    check_continuous_shape,
    cross_limit_now,
    crosses_market,
    execute_market,
    quote,
    reference_price,
    walk_levels,
)
from quantum_trader.exchange.sim.state import SimConfig, SimState
from quantum_trader.exchange.sim.universe import default_universe
from quantum_trader.exchange.sim.validation import (
    check_exposure,
    check_min_notional,
    check_not_triggered,
    check_reduce_only,
    check_shape,
)


class MatchingCore:
    """Binance USDⓈ-M semantics for one cross-margin, one-way-mode account."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        config: SimConfig | None = None,
        funding: FundingSchedule | None = None,
        seed: int = 0,
        start_ms: int = 0,
        rules: MatchingRules = BINANCE_RULES,
        events: bool = True,
    ) -> None:
        self.config = config or SimConfig()
        self.rules = rules
        universe = dict(instruments) if instruments is not None else default_universe()
        schedule = funding or FundingSchedule()
        self._state = SimState(
            config=self.config,
            books={s: SymbolBook(i, rules=rules) for s, i in universe.items()},
            account=Account(self.config.starting_balance, self.config.default_leverage),
            funding=schedule,
            rng=random.Random(seed),
            now_ms=start_ms,
            next_funding_ms=schedule.next_after(start_ms),
            events=[] if events else NoEvents(),
        )

    # -- time and prices ------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self._state.now_ms

    @property
    def next_funding_ms(self) -> int:
        """The next funding time the clock has not passed yet."""
        return self._state.next_funding_ms

    @property
    def funding_interval_ms(self) -> int:
        return self._state.funding.interval_ms

    def advance_time(self, now_ms: int) -> None:
        market.advance_time(self._state, now_ms)

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal = ZERO,
        interval: str = "1m",
        mark: market.Prices | None = None,
    ) -> None:
        """Drive one candle of the trade price, and of the mark price (``mark``: open,
        high, low, close) when given; else the mark follows the trade price's path. The
        ``LEVELS`` bar model (the reference strategy's rules) has one price: no mark."""
        book = self._book(symbol)
        if self.rules.bar_model is BarModel.PATH:
            prices = (open, high, low, close)
            market.on_bar(self._state, symbol, open_time, prices, volume, interval, mark)
            return
        state = self._state
        if open_time >= state.next_funding_ms or open_time > state.now_ms:
            market.advance_time(state, open_time)
        if state.config.kline_history:
            span = market.INTERVAL_MS.get(interval, 60_000)
            kline = Kline(
                symbol, interval, open_time, open, high, low, close, volume, open_time + span - 1
            )
            market.record_kline(state, kline)
        if not book.has_price:
            quote(state, book, open)
        walk_levels(state, book, high, low, close)

    def set_mark(self, symbol: str, mark: Decimal, now_ms: int | None = None) -> None:
        self._book(symbol)
        if now_ms is not None:
            self.advance_time(now_ms)
        market.set_mark(self._state, symbol, mark)

    def set_price(
        self, symbol: str, price: Decimal, now_ms: int | None = None, mark: Decimal | None = None
    ) -> None:
        """Set last and mark (``mark``, else ``price`` too) at once: a jump, stops reached
        fire at it. In the ``LEVELS`` bar model it is a quote: market orders fill at it."""
        book = self._book(symbol)
        if now_ms is not None:
            self.advance_time(now_ms)
        if self.rules.bar_model is BarModel.LEVELS:
            quote(self._state, book, price)
        else:
            market.set_price(self._state, symbol, price, mark)

    def quiet_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        """Catch up over bars the caller proved could act on nothing (no resting order's
        level in their range, the account solvent throughout): the book takes the close
        (and the mark's close, ``mark``, when the mark has its own bars)."""
        book = self._book(symbol)
        book.last = price
        book.mark = price if mark is None else mark
        book.mark_f = float(book.mark)

    def trigger_band(self, symbol: str) -> tuple[float, float]:
        """(highest level acting on a fall, lowest level acting on a rise) of the symbol's
        resting orders, as floats (-inf / +inf when there are none)."""
        book = self._book(symbol)
        return float(book.down_max), float(book.up_min)

    def margin_floats(self) -> tuple[float, dict[str, tuple[float, float]]]:
        """(wallet, {symbol: (signed qty, signed cost)}) as floats, for solvency bounds."""
        return margin_floats(self._state)

    def maintenance_f(self, symbol: str, notional: float) -> float:
        """Maintenance margin of a (positive) notional, in floats."""
        return self._book(symbol).maint_f(notional)

    # -- orders ---------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        """Accept (returning the order after any immediate fill) or raise ``OrderRejected``."""
        return self._submit(request).snapshot()

    def place(self, request: OrderRequest) -> None:
        """``submit`` for an in-process caller that reads fills from the history."""
        self._submit(request)

    def _submit(self, request: OrderRequest) -> WorkingOrder:
        state = self._state
        book = self._book(request.symbol)
        instrument = book.instrument
        if request.client_order_id in state.history.open_client_ids:
            raise errors.rejected(errors.DUPLICATE_CLIENT_ID)
        if self.rules.continuous:
            check_continuous_shape(request)
        else:
            check_shape(request, instrument)
        position_qty = state.account.position_qty(request.symbol)
        if request.type in (OrderType.MARKET, OrderType.LIMIT):
            check_reduce_only(request, position_qty)
        if request.type is OrderType.MARKET and not book.has_price:
            raise errors.rejected(errors.NO_LIQUIDITY)
        reference = reference_price(request, book)
        if not self.rules.continuous:
            check_min_notional(request, instrument, reference)
        if request.type in CONDITIONAL:
            trigger_source = book.mark if request.working_type == "MARK_PRICE" else book.last
            check_not_triggered(request, trigger_source)
        elif (
            request.type is OrderType.LIMIT
            and request.time_in_force == "GTX"
            and crosses_market(request.side, request.price, book)
        ):
            raise errors.rejected(errors.POST_ONLY_REJECTED)
        if request.type in (OrderType.MARKET, OrderType.LIMIT) and not request.reduce_only:
            assert request.quantity is not None
            signed = request.quantity if request.side is Side.BUY else -request.quantity
            check_exposure(
                instrument,
                position_qty=position_qty,
                signed_qty=signed,
                price=reference,
                leverage=state.account.leverage_of(request.symbol),
                available=available_balance(state),
            )
        order = self._accept(request)
        self._work(order, book)
        return order

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """Cancel an open order; -2011 when it is already final, OrderNotFound if unknown."""
        return self._cancel(symbol, client_order_id).snapshot()

    def withdraw(self, symbol: str, client_order_id: str) -> None:
        """``cancel`` without the snapshot."""
        self._cancel(symbol, client_order_id)

    def _cancel(self, symbol: str, client_order_id: str) -> WorkingOrder:
        order = self._lookup(symbol, client_order_id)
        if not order.is_open:
            raise errors.rejected(errors.UNKNOWN_ORDER_SENT)
        finish(self._state, order, OrderStatus.CANCELED)
        return order

    def modify(self, symbol: str, client_order_id: str, quantity: Decimal, price: Decimal) -> Order:
        """Amend an open LIMIT order in place (``amend.amend_order``)."""
        order = self._lookup(symbol, client_order_id)
        amend_order(self._state, order, quantity, price)
        return order.snapshot()

    def cancel_all(self, symbol: str) -> list[Order]:
        book = self._book(symbol)
        cancelled = []
        for order in list(book.resting):
            finish(self._state, order, OrderStatus.CANCELED)
            cancelled.append(order.snapshot())
        return cancelled

    def order(self, symbol: str, client_order_id: str) -> Order:
        return self._lookup(symbol, client_order_id).snapshot()

    def order_by_exchange_id(self, exchange_order_id: str) -> Order:
        order = self._state.history.by_exchange_id.get(exchange_order_id)
        if order is None:
            raise errors.not_found("?", exchange_order_id)
        return order.snapshot()

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        books = [self._book(symbol)] if symbol else list(self._state.books.values())
        return [o.snapshot() for b in books for o in sorted(b.resting, key=lambda o: o.seq)]

    def set_leverage(self, symbol: str, leverage: int) -> int:
        state = self._state
        instrument = self._book(symbol).instrument
        if not 1 <= leverage <= instrument.max_leverage:
            raise errors.rejected(errors.INVALID_LEVERAGE, leverage=leverage)
        position_qty = state.account.position_qty(symbol)
        notional = abs(position_qty) * state.books[symbol].mark
        if notional > instrument.max_notional_at(leverage):
            raise errors.rejected(errors.MAX_POSITION_AT_LEVERAGE)
        previous = state.account.leverage_of(symbol)
        state.account.leverage[symbol] = leverage
        upnl, initial, _ = margin_totals(state)
        if notional and initial > state.account.wallet + upnl:
            state.account.leverage[symbol] = previous
            raise errors.rejected(errors.LEVERAGE_INSUFFICIENT_MARGIN)
        return leverage

    # -- queries --------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return [b.instrument for b in self._state.books.values()]

    def instrument(self, symbol: str) -> Instrument:
        return self._book(symbol).instrument

    def account(self) -> AccountState:
        return account_state(self._state)

    def margin_summary(self) -> MarginSummary:
        """The account's totals without per-position detail (no liquidation prices)."""
        return margin_summary(self._state)

    def positions(self) -> tuple[PositionState, ...]:
        return account_state(self._state).positions

    def trades(self, symbol: str, since: int | None = None) -> list[Fill]:
        fills = self._state.history.fills_by_symbol.get(symbol, [])
        return [f for f in fills if since is None or f.ts >= since]

    def mark_price(self, symbol: str) -> MarkPrice:
        self._book(symbol)  # an unknown symbol is the exchange's error
        return market_data.mark_price(self._state, symbol)

    def funding_rates(
        self, start_ms: int, end_ms: int | None = None, symbol: str | None = None
    ) -> list[FundingRate]:
        if symbol is not None:
            self._book(symbol)  # an unknown symbol is the exchange's error
        return market_data.funding_rates(self._state, start_ms, end_ms, symbol)

    def mark_at(self, symbol: str, ms: int) -> Decimal | None:
        return market_data.mark_at(self._state, symbol, ms)

    def last_price(self, symbol: str) -> Decimal:
        return self._book(symbol).last

    def klines(
        self,
        symbol: str,
        interval: str,
        limit: int = 500,
        end_time: int | None = None,
        mark: bool = False,
    ) -> list[Kline]:
        """The recorded bars (``mark``: the mark's, where the venue was fed them)."""
        return market_data.klines(self._state, symbol, interval, limit, end_time, mark)

    def kline_intervals(self, symbol: str, mark: bool = False) -> list[str]:
        return market_data.kline_intervals(self._state, symbol, mark)

    def drain_events(self) -> list[ExecutionEvent]:
        if type(self._state.events) is NoEvents:
            return []
        events, self._state.events = self._state.events, []
        return events

    def fills_from(self, start: int) -> list[Fill]:
        """Every fill from the ``start``-th (0-based) on, in order (the exchange's trade
        history; ``fill_count`` is where the next call starts)."""
        fills = self._state.history.fills
        return fills[start:] if start < len(fills) else []

    def fill_count(self) -> int:
        return len(self._state.history.fills)

    def funding_payments(self) -> tuple[FundingPayment, ...]:
        """Every funding settlement so far (``history().funding`` without the orders)."""
        return tuple(self._state.history.funding)

    def history(self) -> HistorySnapshot:
        return self._state.history.snapshot()

    def ledger(self) -> Ledger:
        """Cumulative realized PnL, commissions, funding and insurance cover (for audits)."""
        return self._state.account.ledger

    def all_orders(self) -> list[Order]:
        return [o.snapshot() for o in self._state.history.orders]

    def position_qty(self, symbol: str) -> Decimal:
        """Signed net position (long > 0)."""
        return self._state.account.position_qty(symbol)

    # -- internals ------------------------------------------------------------------

    def _book(self, symbol: str) -> SymbolBook:
        book = self._state.books.get(symbol)
        if book is None:
            raise errors.rejected(errors.INVALID_SYMBOL)
        return book

    def _lookup(self, symbol: str, client_order_id: str) -> WorkingOrder:
        self._book(symbol)
        order = self._state.history.by_client_id.get((symbol, client_order_id))
        if order is None:
            raise errors.not_found(symbol, client_order_id)
        return order

    def _accept(self, request: OrderRequest) -> WorkingOrder:
        state = self._state
        order_id = state.next_order_id()
        order = WorkingOrder(
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            client_order_id=request.client_order_id,
            exchange_order_id=order_id,
            quantity=request.quantity if request.quantity is not None else ZERO,
            price=request.price,
            stop_price=request.stop_price,
            reduce_only=request.reduce_only,
            close_position=request.close_position,
            working_type=request.working_type,
            time_in_force=request.time_in_force,
            created_at=state.now_ms,
            updated_at=state.now_ms,
            seq=state.order_seq,
        )
        state.history.record_order(order)
        emit_order(state, order)
        return order

    def _work(self, order: WorkingOrder, book: SymbolBook) -> None:
        """Execute or rest a freshly accepted order."""
        state = self._state
        if order.type is OrderType.MARKET:
            execute_market(state, order)
        elif order.type is OrderType.LIMIT and crosses_market(order.side, order.price, book):
            cross_limit_now(state, order)
        elif order.type is OrderType.LIMIT and order.time_in_force in ("IOC", "FOK"):
            finish(state, order, OrderStatus.EXPIRED)
        else:
            book.add(order)
        check_liquidation(state)
