"""The pages: each view whole (first paint complete, no script needed to read it) and as
a fragment a page re-reads when one of its topics changes; the trade trace; the live
stream of topics; and the action dialogs (confirm, then do)."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from quantum_trader.dashboard.actions import ActionRequest, BadKey, Refused
from quantum_trader.dashboard.session import check_mutation
from quantum_trader.dashboard.trace import trade_trace
from quantum_trader.dashboard.views import VIEWS

if TYPE_CHECKING:
    from quantum_trader.dashboard.parts import Dashboard

KEEPALIVE_S = 15.0
ACTION_FIELDS = ("reason", "minutes", "stop_price", "pct", "position_id")
ACTION_TITLES = {
    "kill_switch_on": "Kill switch ON: stop every new entry",
    "kill_switch_off": "Kill switch OFF: let entries resume",
    "pause_entries": "Pause new entries on a symbol",
    "resume_entries": "Resume entries on a symbol",
    "close": "Close a position at market (reduce-only)",
    "move_stop": "Move a protective stop tighter",
    "reset_breaker": "Reset the circuit breaker",
}
# topics a page refreshes after an action, so the operator sees its effect
ACTION_TOPICS = {
    "kill_switch_on": "risk",
    "kill_switch_off": "risk",
    "pause_entries": "risk",
    "resume_entries": "risk",
    "close": "positions",
    "move_stop": "positions",
    "reset_breaker": "risk",
}


def page_routes(dash: Dashboard) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def view_page(request: Request, name: str, fragment: bool) -> HTMLResponse:
        request.state.who = dash.who(request)
        view = VIEWS.get(name)
        if view is None:
            raise HTTPException(404, f"no view {name!r}")
        data = await view.load(dash.ctx, dash.live, dict(request.query_params))
        context = {**data, "view": view, "views": VIEWS, "query": request.url.query}
        template = f"partials/{name}.html" if fragment else "page.html"
        return dash.render(request, template, context)

    @router.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> HTMLResponse:
        return await view_page(request, "overview", False)

    @router.get("/fragment/{name}", response_class=HTMLResponse)
    async def fragment(request: Request, name: str) -> HTMLResponse:
        return await view_page(request, name, True)

    @router.get("/trace/{position_id:path}", response_class=HTMLResponse)
    async def trace_page(request: Request, position_id: str) -> HTMLResponse:
        request.state.who = dash.who(request)
        trace = await trade_trace(dash.ctx, position_id)
        if trace is None:
            raise HTTPException(404, f"nothing known about position {position_id!r}")
        return dash.render(
            request, "trace.html", {"trace": trace, "views": VIEWS, "view": None, "query": ""}
        )

    @router.get("/chart/{symbol}", response_class=HTMLResponse)
    async def chart_page(request: Request, symbol: str) -> HTMLResponse:
        request.state.who = dash.who(request)
        data = await VIEWS["chart"].load(dash.ctx, dash.live, {"symbol": symbol})
        return dash.render(
            request, "page.html", {**data, "view": VIEWS["chart"], "views": VIEWS, "query": ""}
        )

    @router.get("/live")
    async def live(request: Request) -> StreamingResponse:
        """Server-sent events: ``event: <topic>`` with ``{"symbols": [...]}``."""
        dash.who(request)
        ttl = dash.sessions.tokens.access_ttl_s

        async def stream() -> Any:
            queue = dash.live.attach()
            loop = asyncio.get_running_loop()
            ends = loop.time() + ttl  # then the browser reconnects and logs in again
            try:
                yield "retry: 1000\nevent: hello\ndata: {}\n\n"
                while not dash.live.closing.is_set() and loop.time() < ends:
                    try:
                        topic, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {topic}\ndata: {data}\n\n"
            finally:
                dash.live.detach(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/actions/{action}", response_class=HTMLResponse)
    async def action_dialog(request: Request, action: str) -> HTMLResponse:
        """The confirmation step: what exactly will happen, with this request's one key."""
        who = dash.who(request)
        request.state.who = who
        if action not in ACTION_TITLES:
            raise HTTPException(404, f"no action {action!r}")
        q = dict(request.query_params)
        return dash.render(
            request,
            "partials/dialog.html",
            {
                "action": action,
                "title": ACTION_TITLES[action],
                "q": q,
                "key": secrets.token_urlsafe(24),
                "allowed": who.may_act,
            },
        )

    @router.post("/actions/{action}", response_class=HTMLResponse)
    async def act(request: Request, action: str) -> Response:
        who = dash.who(request)
        request.state.who = who
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        check_mutation(request, who, fields.get("csrf"))
        if fields.get("confirm") != "yes":
            raise HTTPException(400, "confirm the action first")
        params = {k: fields[k] for k in ACTION_FIELDS if fields.get(k)}
        try:
            outcome = await dash.operator.perform(
                who, ActionRequest(action, fields.get("key", ""), fields.get("symbol", ""), params)
            )
        except (Refused, BadKey) as exc:
            outcome = {
                "result": "refused",
                "detail": str(exc),
                "action": action,
                "replayed": False,
                "plan_id": "",
            }
        response = dash.render(request, "partials/action_result.html", {"outcome": outcome})
        response.headers["HX-Trigger"] = f"qt:{ACTION_TOPICS.get(action, 'audit')}, qt:audit"
        return response

    def whole(name: str) -> Any:
        async def page(request: Request) -> HTMLResponse:
            return await view_page(request, name, False)

        return page

    for name in VIEWS:
        if name != "overview":
            router.add_api_route(f"/{name}", whole(name), methods=["GET"])
    return router
