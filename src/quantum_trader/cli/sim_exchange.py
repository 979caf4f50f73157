"""``quantum sim-exchange serve``: the simulated exchange as a local Binance USDⓈ-M server.

Mount with ``app.add_typer(sim_app, name="sim-exchange")`` where
``from quantum_trader.cli.sim_exchange import app as sim_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from quantum_trader.data import DataError, generate_market, load_klines_dir
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.binance import load_klines
from quantum_trader.data.funding import find_funding
from quantum_trader.data.marks import NO_MARKS, MarkBars, find_marks, mark_bars, synthetic_mark_bars
from quantum_trader.data.synthetic import MarketConfig
from quantum_trader.exchange.sim import FundingSchedule, MatchingCore, SimExchange
from quantum_trader.exchange.sim.funding import recorded_schedule
from quantum_trader.exchange.sim.http import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    PROFILES,
    Credentials,
    SimHttpServer,
)
from quantum_trader.exchange.sim.http.replay import replay

app = typer.Typer(help="Run the simulated exchange behind a Binance-compatible HTTP API.")
SYNTHETIC_BARS = 1440


@app.callback()
def sim_exchange() -> None:
    """The simulated Binance USDⓈ-M exchange as a local server."""


SYNTHETIC_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]


def load_series(data: Path | None, seed: int) -> tuple[list[BarSeries], MarkBars]:
    """Kline file or directory, or a day of synthetic 1 m bars; with the mark's bars (the
    markPriceKlines files beside the klines, or the synthetic market's mark)."""
    if data is None:
        market = generate_market(SYNTHETIC_SYMBOLS, SYNTHETIC_BARS, MarketConfig(seed=seed))
        series = list(market.bars.values())
        return series, synthetic_mark_bars(market, series)
    if data.is_dir():
        series = list(load_klines_dir(data, allow_gaps=True).values())
    else:
        series = [load_klines(data, allow_gaps=True)]
    return series, mark_bars(series, find_marks(data, [s.symbol for s in series]))


def load_funding(data: Path | None, series: list[BarSeries]) -> FundingSchedule:
    """Funding as ``quantum backtest --data`` settles it: the fundingRate files beside the
    klines, the flat default rate for the rest (and for the synthetic market)."""
    recorded = find_funding(data, {s.symbol for s in series}) if data is not None else {}
    return recorded_schedule(recorded)


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free).")] = 8765,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the market and the faults.")] = 0,
    data: Annotated[
        Path | None, typer.Option(help="Kline CSV/zip/Parquet file or directory to replay.")
    ] = None,
    speed: Annotated[float, typer.Option(help="Replay speed: ×real time.")] = 1.0,
    faults: Annotated[str, typer.Option(help="Fault profile: " + ", ".join(PROFILES))] = "none",
    api_key: Annotated[str | None, typer.Option(help="API key clients must send.")] = None,
    api_secret: Annotated[str | None, typer.Option(help="Secret clients sign with.")] = None,
    weight_limit: Annotated[int, typer.Option(min=1, help="Request weight per minute.")] = 2400,
) -> None:
    """Serve /fapi REST, user-data and market WebSockets, and loopback admin endpoints."""
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    if faults not in PROFILES:
        raise typer.BadParameter(f"choose one of {', '.join(PROFILES)}", param_hint="--faults")
    if (api_key is None) != (api_secret is None):
        raise typer.BadParameter("give both or neither", param_hint="--api-key/--api-secret")
    if data is not None and not data.exists():
        raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
    try:
        series, marks = load_series(data, seed)
        funding = load_funding(data, series)
    except (DataError, OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--data") from None
    credentials = Credentials(api_key or DEFAULT_API_KEY, api_secret or DEFAULT_API_SECRET)
    options = ServeOptions(series, funding, speed, faults, credentials, weight_limit, marks)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, port, seed, options))


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``serve`` replays and how it answers."""

    series: list[BarSeries]
    funding: FundingSchedule
    speed: float
    faults: str
    credentials: Credentials
    weight_limit: int
    marks: MarkBars = NO_MARKS


async def _serve(host: str, port: int, seed: int, options: ServeOptions) -> None:
    series, speed, faults = options.series, options.speed, options.faults
    start = min((int(s.open_time[0]) for s in series if len(s)), default=0)
    core = MatchingCore(seed=seed, start_ms=start, funding=options.funding)
    server = SimHttpServer(
        SimExchange(core),
        host=host,
        port=port,
        credentials=options.credentials,
        weight_limit=options.weight_limit,
        faults=faults,
        seed=seed,
    )
    try:
        url = await server.start()
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    symbols = ", ".join(sorted({s.symbol for s in series}))
    typer.echo(f"simulated Binance USDⓈ-M at {url} (ws {server.ws_url}/ws), faults={faults}")
    typer.echo(f"replaying {symbols} at ×{speed:g}; admin at {url}/admin/state")
    typer.echo(f"mark price: {options.marks.source}")
    try:
        await replay(server, series, speed, marks=options.marks.series)
        typer.echo("replay finished; still serving (Ctrl-C to stop)")
        await asyncio.Event().wait()
    finally:
        await server.stop()
