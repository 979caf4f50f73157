"""``quantum backtest``'s options as a ``BacktestRequest``: each one checked, and what
the command line leaves unsaid taken from the settings (as ``quantum run`` takes it).

Every problem is an ``InputError`` naming the option and the fix.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from quantum_trader.backtest.runner import BacktestRequest, InputError
from quantum_trader.bootstrap import engine_config, strategy_params
from quantum_trader.config import Settings
from quantum_trader.data import DataError, binance_interval
from quantum_trader.decide.harvest_ladder import HarvestConfig, Tranche
from quantum_trader.domain.enums import PlanAction
from quantum_trader.exchange.sim import SlippageModel
from quantum_trader.strategies import ModelStrategy, available


def parse_symbols(text: str | None) -> tuple[str, ...]:
    """``--symbols``: a comma list; given but empty is an error, not "the default"."""
    if text is None:
        return ()
    names = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    if not names:
        raise InputError("--symbols", "is empty; give a comma list such as BTCUSDT,ETHUSDT")
    bad = [n for n in names if not n.isalnum()]
    if bad:
        raise InputError("--symbols", f"{', '.join(bad)}: write symbols like BTCUSDT")
    if len(set(names)) != len(names):
        raise InputError("--symbols", "each symbol may appear once")
    return names


def _interval(option: str, text: str) -> str:
    try:
        return binance_interval(text)
    except DataError as exc:
        raise InputError(option, str(exc)) from None


def file_options(
    data: Path | None, repair: bool, symbol: str | None, interval: str | None
) -> tuple[str | None, str | None]:
    """Check --repair / --symbol / --interval against --data; the name and interval to use."""
    if repair and data is None:
        raise InputError("--repair", "repairs --data files; synthetic bars need no repair")
    if symbol is None and interval is None:
        return None, None
    option = "--symbol" if symbol is not None else "--interval"
    if data is None or not data.is_file():
        raise InputError(
            option, "names the series in one --data FILE; a directory's files must be "
            "named like BTCUSDT-1m-2024-01.zip",
        )  # fmt: skip
    name = symbol.strip().upper() if symbol is not None else None
    if name is not None and not name.isalnum():
        raise InputError("--symbol", f"{symbol!r}: write a symbol like BTCUSDT")
    return name, _interval("--interval", interval) if interval is not None else None


def _decimal(option: str, text: str | None, *, low: Decimal, high: Decimal) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(option, f"{text!r} is not a number") from None
    if not value.is_finite() or not low <= value <= high:
        raise InputError(option, f"{text} is outside [{low}, {high}]")
    return value


def parse_ladder(text: str) -> HarvestConfig:
    """``"1:25,2:25,3:25"``: take PARTIAL_<pct> at each R (pct 25, 50 or 75)."""
    tranches = []
    for part in text.split(","):
        at_r, _, pct = part.strip().partition(":")
        try:
            action = PlanAction(f"PARTIAL_{int(pct)}")
            tranches.append(Tranche(Decimal(at_r), action))
        except (ValueError, InvalidOperation):
            raise InputError(
                "--ladder", f"bad rung {part!r}; write R:PCT pairs like 1:25,2:25,3:50"
            ) from None
    try:
        return HarvestConfig(tranches=tuple(tranches))
    except ValueError as exc:
        raise InputError("--ladder", str(exc)) from None


def parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError("--param", f"{item!r} must look like name=value")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


MODEL = ModelStrategy.name  # loads its model from QUANTUM_DATA_DIR/models


def parse_strategies(text: str | None, settings: Settings) -> tuple[str, ...]:
    """``--strategy``: one name or a comma list; omitted, the configured strategies (the
    set ``quantum run`` trades, in its order)."""
    if text is None:
        return settings.strategies.names
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in available()]
    if not names or unknown:
        shown = repr(unknown[0]) if unknown else "empty"
        raise InputError("--strategy", f"unknown {shown}; known: {', '.join(available())}")
    if len(set(names)) != len(names):
        raise InputError("--strategy", "each strategy may appear once")
    if MODEL in names and len(names) > 1:
        raise InputError(
            "--strategy", "model trades alone; to judge another strategy's signals with "
            "it, use --strategy model --param filter=NAME",
        )  # fmt: skip
    return names


def build_request(
    strategy: str | None,
    data: Path | None,
    synthetic: bool,
    symbols: str | None,
    timeframe: str | None,
    days: int | None,
    start: str | None,
    end: str | None,
    balance: str | None,
    fee: str | None,
    slippage: int | None,
    leverage: int | None,
    ladder: str | None,
    kill_threshold: str | None,
    seed: int,
    strategy_rules: bool,
    params: list[str],
    files: tuple[bool, str | None, str | None] = (False, None, None),
    settings: Settings | None = None,
) -> BacktestRequest:
    """``files``: (--repair, --symbol, --interval) for --data. What an option leaves
    unsaid comes from ``settings``, as for ``quantum run``: the strategies, the universe
    and interval of a synthetic market, and every decision parameter."""
    settings = settings or Settings()
    strategies = parse_strategies(strategy, settings)
    names = parse_symbols(symbols)
    if synthetic and not names:
        names = settings.trading_symbols
    if timeframe is not None:
        timeframe = _interval("--timeframe", timeframe)
    elif synthetic and settings.strategies.interval != "1m":
        timeframe = settings.strategies.interval
    if data is not None and synthetic:
        raise InputError("--synthetic", "give either --data PATH or --synthetic, not both")
    if leverage is not None and not 1 <= leverage <= 125:
        raise InputError("--leverage", f"{leverage} is outside 1..125")
    if slippage is not None and slippage < 0:
        raise InputError("--slippage", "ticks of slippage cannot be negative")
    money = _decimal("--balance", balance, low=Decimal("1"), high=Decimal("1e12"))
    fee_rate = _decimal("--fee", fee, low=Decimal(0), high=Decimal("0.01"))
    exits = settings.exits
    if ladder is not None:
        exits = replace(exits, harvest=parse_ladder(ladder))
    threshold = _decimal("--kill-threshold", kill_threshold, low=Decimal(0), high=Decimal(1))
    if threshold is not None:
        exits = replace(exits, kill=replace(exits.kill, threshold=threshold))
    account: dict[str, object] = {"exits": exits, "seed": seed, "strategy_rules": strategy_rules}
    if money is not None:
        account["balance"] = money
    if fee_rate is not None:
        account["taker_fee"] = fee_rate
    if leverage is not None:
        account["leverage"] = leverage
    if slippage is not None:
        account["slippage"] = replace(SlippageModel(), half_spread_ticks=slippage)
    try:
        engine = engine_config(settings, **account)
    except ValueError as exc:
        raise InputError("--config", str(exc)) from None
    if params and len(strategies) > 1:
        raise InputError("--param", "sets one strategy's parameters; give one --strategy")
    repair, file_symbol, file_interval = files
    chosen = parse_params(params)
    if strategies == (MODEL,):
        chosen = strategy_params(settings, MODEL, chosen, engine.taker_fee)
    return BacktestRequest(
        strategy=strategies[0] if len(strategies) == 1 else strategies,
        data=data,
        synthetic=synthetic,
        symbols=names,
        timeframe=timeframe,
        days=days,
        start=start,
        end=end,
        seed=seed,
        balance=money,
        fee=fee_rate,
        params=chosen,
        engine=engine,
        repair=repair,
        symbol=file_symbol,
        interval=file_interval,
    )
