"""What the archive does not have yet, from Binance's USDⓈ-M REST API, written as the
archive writes it.

``/fapi/v1/klines`` and ``/fapi/v1/markPriceKlines`` are read in pages of 1,500 bars,
``/fapi/v1/fundingRate`` in pages of 1,000 rates. The rows go out as the archive's files
do: a zip holding one CSV with the archive's header (klines:
``open_time,open,high,low,close,volume,close_time,…,ignore``; funding:
``calc_time,funding_interval_hours,last_funding_rate``), the numbers as the API sent
them, so the loaders read a day from the API exactly as one from the archive.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

from quantum_trader.data.bars import interval_ms
from quantum_trader.data.fetch import DownloadError, Host, HttpStatus

KLINES_LIMIT = 1500
FUNDING_LIMIT = 1000
INVALID_SYMBOL = -1121
ENDPOINTS = {"klines": "/fapi/v1/klines", "markPriceKlines": "/fapi/v1/markPriceKlines"}
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same rows make the same bytes


class InvalidSymbol(DownloadError):
    """The REST API does not know the symbol (Binance's -1121 "Invalid symbol.")."""


class RestRefused(DownloadError):
    """Any other refusal of the REST API (a bad parameter, a removed endpoint)."""


class RestClient:
    """Paged reads of one REST server; remembers the symbols it called invalid."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.invalid: set[str] = set()

    async def _get(self, path: str, symbol: str, params: dict[str, str | int]) -> Any:
        if symbol in self.invalid:
            raise InvalidSymbol(f"{symbol}: Invalid symbol.")
        try:
            return await self.host.get_json(path, params)
        except HttpStatus as exc:
            code, message = _binance_error(exc.body)
            if code == INVALID_SYMBOL:
                self.invalid.add(symbol)
                raise InvalidSymbol(f"{symbol}: {message}") from None
            raise RestRefused(
                f"{self.host.option} {self.host.base_url}{path} ({symbol}): HTTP {exc.status} "
                f"{message or exc.body[:120]}"
            ) from None

    async def klines(
        self, kind: str, symbol: str, interval: str, start_ms: int, end_ms: int
    ) -> list[list[Any]] | None:
        """Every bar opening in ``[start_ms, end_ms)``, oldest first; None when the
        server does not serve ``kind``."""
        path, step = ENDPOINTS[kind], interval_ms(interval)
        rows: list[list[Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            params: dict[str, str | int] = {
                "symbol": symbol,
                "interval": interval,
                "startTime": cursor,
                "endTime": end_ms - 1,
                "limit": KLINES_LIMIT,
            }
            page = await self._get(path, symbol, params)
            if page is None:
                return None
            fresh = [r for r in page if cursor <= int(r[0]) < end_ms]
            rows += fresh
            if not fresh or len(page) < KLINES_LIMIT:
                break
            cursor = int(fresh[-1][0]) + step
        return rows

    async def funding(self, symbol: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every funding rate settled in ``[start_ms, end_ms)``, oldest first."""
        rows: list[dict[str, Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            params: dict[str, str | int] = {
                "symbol": symbol,
                "startTime": cursor,
                "endTime": end_ms - 1,
                "limit": FUNDING_LIMIT,
            }
            page = await self._get("/fapi/v1/fundingRate", symbol, params)
            fresh = [r for r in page or [] if cursor <= int(r["fundingTime"]) < end_ms]
            rows += fresh
            if not fresh or len(page or []) < FUNDING_LIMIT:
                break
            cursor = int(fresh[-1]["fundingTime"]) + 1
        return rows


def _binance_error(body: str) -> tuple[int | None, str]:
    """``{"code": -1121, "msg": "Invalid symbol."}`` -> (-1121, 'Invalid symbol.')."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, ""
    if not isinstance(doc, dict):
        return None, ""
    code = doc.get("code")
    return (code if isinstance(code, int) else None), str(doc.get("msg", ""))


def _zip_bytes(csv_name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(csv_name, _ZIP_TIME), text)
    return buffer.getvalue()


def kline_zip(rows: list[list[Any]], zip_name: str) -> bytes:
    """REST kline rows as the archive's zip (``X.zip`` holds ``X.csv``)."""
    lines = [KLINE_HEADER] + [",".join(str(v) for v in row) for row in rows]
    return _zip_bytes(Path(zip_name).with_suffix(".csv").name, "\n".join(lines) + "\n")


def funding_hours(times: list[int]) -> int:
    """The funding interval the times show (most common spacing), 8 when unclear."""
    gaps = [round((b - a) / 3_600_000) for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g in (1, 2, 4, 8)]
    return max(set(gaps), key=gaps.count) if gaps else 8


def funding_zip(rows: list[dict[str, Any]], zip_name: str) -> bytes:
    """REST funding rows as the archive's funding zip."""
    times = [int(r["fundingTime"]) for r in rows]
    hours = funding_hours(times)
    lines = [FUNDING_HEADER] + [
        f"{t},{hours},{r['fundingRate']}" for t, r in zip(times, rows, strict=True)
    ]
    return _zip_bytes(Path(zip_name).with_suffix(".csv").name, "\n".join(lines) + "\n")
