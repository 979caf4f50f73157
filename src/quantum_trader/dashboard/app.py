"""The dashboard's ASGI application: pages, fragments, the JSON API, live updates.

``build_app`` wires one :class:`~.context.DashboardContext` (what it reads and acts on)
to its routes. Every route but the login page and the static files needs a login; every
mutation needs the admin role and, with a cookie, the login's CSRF token. Responses
carry a strict content-security policy: scripts come from this server only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantum_trader import __version__
from quantum_trader.dashboard.actions import Operator
from quantum_trader.dashboard.auth import LoginLimiter, PasswordBook, Tokens
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.live import LiveState
from quantum_trader.dashboard.parts import HERE, Dashboard, LoginNeeded, templates
from quantum_trader.dashboard.routes_api import api_routes
from quantum_trader.dashboard.routes_pages import page_routes
from quantum_trader.dashboard.session import ACCESS_COOKIE, Sessions, auth_routes

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def build_app(
    ctx: DashboardContext,
    book: PasswordBook,
    tokens: Tokens | None = None,
    live: LiveState | None = None,
) -> FastAPI:
    settings = ctx.settings.dashboard
    live = live or LiveState(ctx, interval_s=settings.live_interval_ms / 1000)
    sessions = Sessions(
        book,
        tokens or Tokens.from_settings(settings),
        LoginLimiter(settings.login_attempts, settings.login_window_s, ctx.steady),
    )
    dash = Dashboard(ctx, live, sessions, Operator(ctx, live), templates())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tail = asyncio.create_task(live.run())
        try:
            yield
        finally:
            live.closing.set()
            await tail
            ctx.close()

    app = FastAPI(
        title="Quantum Trader dashboard API",
        version=__version__,
        description="Positions, orders, health, risk, trades, traces and the operator's "
        "actions. Log in with POST /api/auth/token; send `Authorization: Bearer <token>`.",
        docs_url=None,  # the interactive docs load scripts from a CDN: /api lists the API
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.dashboard = dash

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        access = getattr(request.state, "set_access", None)
        if access:
            response.set_cookie(
                ACCESS_COOKIE,
                access,
                max_age=sessions.tokens.access_ttl_s,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        return response

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        path = request.url.path
        if path.startswith("/api/") or path.startswith("/fragment") or path == "/live":
            return JSONResponse({"detail": "login required"}, 401, {"HX-Redirect": "/login"})
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if request.url.path.startswith("/api/") or not request.headers.get("accept", "").startswith(
            "text/html"
        ):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers)
        return dash.render(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail},
            exc.status_code,
        )

    app.include_router(auth_routes(sessions, dash.render))
    app.include_router(api_routes(dash))
    app.include_router(page_routes(dash))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
