"""The JSON API under ``/api/``: the same data as the pages (money as decimal strings,
times as ISO-8601 UTC), the candles of a symbol with its trades' marks and levels, and
the actions (``POST /api/actions/{action}``, ``Idempotency-Key`` header, ``confirm``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from quantum_trader.bus.schemas import FillEvent
from quantum_trader.dashboard import journal_view, reads
from quantum_trader.dashboard.actions import ACTIONS, ActionRequest, BadKey, Refused
from quantum_trader.dashboard.session import check_mutation
from quantum_trader.dashboard.trace import trade_trace
from quantum_trader.dashboard.views import VIEWS
from quantum_trader.data.bars import interval_ms
from quantum_trader.decide.harvest_ladder import trigger_r
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import is_entry

if TYPE_CHECKING:
    from quantum_trader.dashboard.parts import Dashboard

API_VIEWS = {
    "overview": "overview",
    "positions": "positions",
    "orders": "orders",
    "health": "services",
    "risk": "risk",
    "trades": "journal",
    "harvest": "harvest",
    "repairs": "repairs",
    "dead-letters": "dead",
    "audit": "audit",
    "settings": "settings",
}


def plain(value: Any) -> Any:
    """JSON-ready: Decimals as decimal strings (never floats), tuples as lists."""
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if not str(k).endswith("_decimal")}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


class ActionBody(BaseModel):
    """An action. ``confirm`` must be true: the API's confirmation step."""

    confirm: bool = False
    symbol: str = ""
    position_id: str = ""
    pct: str = ""  # close: 25, 50, 75 or 100
    stop_price: str = ""  # move_stop: the new stop, a decimal string
    minutes: str = ""  # pause_entries: how long
    reason: str = ""  # kill_switch_on, pause_entries, reset_breaker: why


def api_routes(dash: Dashboard) -> APIRouter:
    router = APIRouter(prefix="/api")

    def view_route(path: str, name: str) -> None:
        async def read(request: Request) -> JSONResponse:
            dash.who(request)
            data = await VIEWS[name].load(dash.ctx, dash.live, dict(request.query_params))
            return JSONResponse(plain(data))

        read.__doc__ = f"The {VIEWS[name].title.lower()} view's data."
        router.add_api_route(f"/{path}", read, methods=["GET"], name=f"api_{name}", tags=["read"])

    for path, name in API_VIEWS.items():
        view_route(path, name)

    @router.get("/trace/{position_id:path}", tags=["read"])
    async def trace(request: Request, position_id: str) -> JSONResponse:
        """A position's path: signal, intent, plan, gate, orders, fills, stop moves,
        harvest tranches, exit — with times and reasons."""
        dash.who(request)
        found = await trade_trace(dash.ctx, position_id)
        if found is None:
            raise HTTPException(404, f"nothing known about position {position_id!r}")
        return JSONResponse(plain(found))

    @router.get("/candles/{symbol}", tags=["read"])
    async def candles(request: Request, symbol: str, limit: int = 500) -> JSONResponse:
        """A symbol's recent bars (times in epoch seconds), its fills as markers, and the
        open position's entry, stop and take-profit levels."""
        dash.who(request)
        return JSONResponse(await chart_data(dash, symbol.upper(), max(1, min(limit, 1500))))

    @router.get("/equity", tags=["read"])
    async def equity(request: Request) -> JSONResponse:
        """The equity curve (the account at each bar's close, as the market feed read it)
        and the balance curve (starting balance + realized net PnL of closed positions)."""
        dash.who(request)
        money = await dash.ctx.in_journal(journal_view.money, dash.ctx.now()) or {}
        start = money.get("starting_balance") or Decimal(0)
        return JSONResponse(
            {
                "equity": [{"time": t // 1000, "value": fmt(e)} for t, e, _ in dash.live.equity],
                "available": [{"time": t // 1000, "value": fmt(a)} for t, _, a in dash.live.equity],
                "balance": _one_per_second(
                    [(t // 1000, fmt(start + v)) for t, v in money.get("curve", [])]
                ),
            }
        )

    @router.post("/actions/{action}", tags=["act"])
    async def act(
        request: Request,
        action: str,
        body: ActionBody,
        idempotency_key: str = Header(default="", alias="Idempotency-Key"),
    ) -> JSONResponse:
        """Do one operator action once per ``Idempotency-Key`` (admin only)."""
        who = dash.who(request)
        check_mutation(request, who)
        if action not in ACTIONS:
            raise HTTPException(404, f"no action {action!r}; one of {', '.join(ACTIONS)}")
        if not body.confirm:
            raise HTTPException(400, "set confirm: true to do this action")
        fields = body.model_dump(exclude={"confirm", "symbol"})
        params = {k: str(v) for k, v in fields.items() if v}
        try:
            outcome = await dash.operator.perform(
                who, ActionRequest(action, idempotency_key, body.symbol, params)
            )
        except BadKey as exc:
            raise HTTPException(400, str(exc)) from None
        except Refused as exc:
            raise HTTPException(409, str(exc)) from None
        status = {"forbidden": 403, "refused": 409}.get(outcome["result"], 200)
        return JSONResponse(outcome, status)

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    async def api_page(request: Request) -> HTMLResponse:
        request.state.who = dash.who(request)
        schema = request.app.openapi()
        routes = [
            {
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "doc": op.get("description", ""),
            }
            for path, ops in schema["paths"].items()
            for method, op in ops.items()
        ]
        return dash.render(
            request, "api.html", {"routes": routes, "views": VIEWS, "view": None, "query": ""}
        )

    return router


async def chart_data(dash: Dashboard, symbol: str, limit: int) -> dict[str, Any]:
    ctx, live = dash.ctx, dash.live
    bars = list(live.bars.get(symbol, ()))[-limit:]
    first = bars[0].time if bars else 0
    markers = []
    step = interval_ms(ctx.settings.strategies.interval)
    for _, f in reversed(await reads.messages(ctx, ctx.keys.fills, 5_000)):
        if isinstance(f, FillEvent) and f.symbol == symbol and f.ts_event >= first:
            row = reads.fill_row(f)
            markers.append(
                {
                    "time": (f.ts_event - f.ts_event % step) // 1000,
                    "side": f.side.value,
                    "purpose": row["purpose"],
                    "price": row["price"],
                    "qty": row["qty"],
                    "entry": is_entry(f.client_order_id),
                }
            )
    book = await reads.positions(ctx, live)
    position = next((p for p in book["positions"] if p["symbol"] == symbol), None)
    lines: list[dict[str, str]] = []
    if position is not None:
        lines.append({"name": "entry", "price": position["entry_price"]})
        if position["stop"]:
            lines.append({"name": "stop", "price": position["stop"]})
        if position["initial_stop"]:
            entry, initial = Decimal(position["entry_price"]), Decimal(position["initial_stop"])
            unit = abs(entry - initial)
            sign = 1 if position["side"] == "LONG" else -1
            harvest = ctx.settings.exits.harvest
            for n, tranche in enumerate(harvest.tranches, start=1):
                if n <= position["ladder_stage"]:
                    continue
                level = entry + sign * unit * trigger_r(tranche, position["leverage"], harvest)
                lines.append(
                    {
                        "name": f"take profit {n} ({tranche.action.value})",
                        "price": fmt(level.quantize(Decimal("0.0001"))),
                    }
                )
    return {
        "symbol": symbol,
        "candles": [
            {
                "time": c.time // 1000,
                "open": fmt(c.open),
                "high": fmt(c.high),
                "low": fmt(c.low),
                "close": fmt(c.close),
            }
            for c in bars
        ],
        "markers": markers,
        "lines": lines,
        "position": plain(position),
    }


def _one_per_second(points: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """A chart takes one value per time: the last of each second."""
    last: dict[int, str] = {}
    for time, value in points:
        last[time] = value
    return [{"time": time, "value": value} for time, value in sorted(last.items())]
