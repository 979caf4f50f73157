"""Writing bars as Binance-style dumps: headerless 12-column CSV or Parquet.

CSV numbers are written in plain decimal notation with a fixed number of decimals
(the tick's, when known), built with Arrow string kernels so a year of minutes for a
symbol writes in well under a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quantum_trader.data.bars import BarSeries, DataError, FloatArray, decimals_of

MAX_DECIMALS = 10


def dump_name(series: BarSeries, suffix: str = ".csv") -> str:
    """File name in the dumps' style: ``BTCUSDT-1m-2024-01-01_2024-01-31.csv``."""
    if len(series) == 0:
        return f"{series.symbol}-{series.interval}{suffix}"

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")

    first, last = int(series.open_time[0]), int(series.open_time[-1])
    return f"{series.symbol}-{series.interval}-{day(first)}_{day(last)}{suffix}"


def needed_decimals(values: FloatArray, limit: int = MAX_DECIMALS) -> int:
    """Fewest decimals that reproduce every value exactly (values read from decimal text)."""
    finite = values[np.isfinite(values)]
    for places in range(limit + 1):
        if np.array_equal(np.round(finite, places), finite):
            return places
    return limit


def _fixed(values: FloatArray, places: int) -> pa.Array:
    """Non-negative floats as plain decimal strings with exactly ``places`` decimals."""
    if not bool(np.all(np.isfinite(values))) or bool(np.any(values < 0)):
        raise DataError("cannot write NaN, infinite or negative prices/volumes as a kline dump")
    scaled = np.rint(values * 10.0**places).astype(np.int64)
    whole = pa.array(scaled // 10**places).cast(pa.string())
    if places == 0:
        return whole
    frac = pc.utf8_lpad(pa.array(scaled % 10**places).cast(pa.string()), places, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def write_klines_csv(
    series: BarSeries,
    path: str | Path,
    *,
    tick_size: Decimal | None = None,
    step_size: Decimal | None = None,
    header: bool = False,
) -> Path:
    """Write the 12-column kline layout (quote volume = volume × close; counts are 0);
    ``header``: first the header line of the archive's newer files."""
    price_dp = decimals_of(tick_size) if tick_size else None
    if price_dp is None:
        price_dp = max(needed_decimals(c) for c in (series.open, series.high, series.low))
        price_dp = max(price_dp, needed_decimals(series.close))
    volume_dp = decimals_of(step_size) if step_size else needed_decimals(series.volume)
    zeros = pa.array(np.zeros(len(series), np.int64)).cast(pa.string())
    columns = {
        "open_time": pa.array(series.open_time).cast(pa.string()),
        "open": _fixed(series.open, price_dp),
        "high": _fixed(series.high, price_dp),
        "low": _fixed(series.low, price_dp),
        "close": _fixed(series.close, price_dp),
        "volume": _fixed(series.volume, volume_dp),
        "close_time": pa.array(series.close_time).cast(pa.string()),
        "quote_volume": _fixed(series.volume * series.close, min(price_dp + volume_dp, 8)),
        "count": zeros,
        "taker_buy_volume": zeros,
        "taker_buy_quote_volume": zeros,
        "ignore": zeros,
    }
    out = Path(path)
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.OSFile(str(out), "wb") as sink:
        if header:  # the archive's header line, unquoted (Arrow would quote the names)
            sink.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(pa.table(columns), sink, write_options=options)
    return out


def write_parquet(series: BarSeries, path: str | Path) -> Path:
    """Parquet with open_time (ms) and OHLCV columns; symbol and interval in the metadata."""
    table = pa.table(
        {
            "open_time": series.open_time,
            "open": series.open,
            "high": series.high,
            "low": series.low,
            "close": series.close,
            "volume": series.volume,
        }
    ).replace_schema_metadata({"symbol": series.symbol, "interval": series.interval})
    out = Path(path)
    pq.write_table(table, out)
    return out
