"""Market data: columnar bars, a seeded synthetic market, Binance dump loaders, resampling.

``BarSeries`` (numpy columns) is what backtests and the simulator read; prices leave for
an exchange only as Decimal values on the instrument's tick (``BarSeries.bar_at``).
"""

from quantum_trader.data.bars import (
    BINANCE_INTERVALS,
    BarSeries,
    DataError,
    binance_interval,
    interval_ms,
)
from quantum_trader.data.binance import (
    LoadResult,
    load_all,
    load_klines,
    load_klines_dir,
    load_options,
    parse_dump_name,
    scan,
)
from quantum_trader.data.funding import (
    FundingSeries,
    generate_funding,
    load_funding_rates,
    write_funding_csv,
)
from quantum_trader.data.quality import QualityReport, RepairReport, check_bars, repair_bars
from quantum_trader.data.resample import resample, resample_flagged
from quantum_trader.data.source import BarEvent, MarketDataSource
from quantum_trader.data.symbols import DEFAULT_SYMBOLS, SymbolSpec
from quantum_trader.data.synthetic import (
    MarketConfig,
    Regime,
    SyntheticMarket,
    generate_bars,
    generate_market,
)
from quantum_trader.data.writers import dump_name, write_klines_csv, write_parquet

__all__ = [
    "BINANCE_INTERVALS",
    "DEFAULT_SYMBOLS",
    "BarEvent",
    "BarSeries",
    "DataError",
    "FundingSeries",
    "LoadResult",
    "MarketConfig",
    "MarketDataSource",
    "QualityReport",
    "Regime",
    "RepairReport",
    "SymbolSpec",
    "SyntheticMarket",
    "binance_interval",
    "check_bars",
    "dump_name",
    "generate_bars",
    "generate_funding",
    "generate_market",
    "interval_ms",
    "load_all",
    "load_funding_rates",
    "load_klines",
    "load_klines_dir",
    "load_options",
    "parse_dump_name",
    "repair_bars",
    "resample",
    "resample_flagged",
    "scan",
    "write_funding_csv",
    "write_klines_csv",
    "write_parquet",
]
