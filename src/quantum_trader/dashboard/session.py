"""Logins over HTTP: the login page and form, token endpoints for the API, cookies,
the request's principal, CSRF and origin checks.

A page request whose access cookie expired is let in on its refresh cookie: a new
access token is set on the response (same CSRF secret), so a tab left open stays
logged in until the refresh token ends or the user logs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from quantum_trader.dashboard.auth import (
    ACCESS,
    REFRESH,
    LoginLimiter,
    PasswordBook,
    Principal,
    Tokens,
    csrf_ok,
    principal,
)

ACCESS_COOKIE = "qt_access"
REFRESH_COOKIE = "qt_refresh"


@dataclass
class Sessions:
    book: PasswordBook
    tokens: Tokens
    limiter: LoginLimiter

    def resolve(self, request: Request) -> Principal | None:
        """Who is asking: a Bearer token, else the access cookie, else (pages) the
        refresh cookie, which then sets a fresh access cookie on the response."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            claims = self.tokens.check(header[7:].strip(), ACCESS)
            return principal(claims, via_cookie=False) if claims else None
        claims = self.tokens.check(request.cookies.get(ACCESS_COOKIE, ""), ACCESS)
        if claims:
            return principal(claims, via_cookie=True)
        refreshed = self.tokens.check(request.cookies.get(REFRESH_COOKIE, ""), REFRESH)
        if not refreshed:
            return None
        who = principal(refreshed, via_cookie=True)
        access, _ = self.tokens.issue(who.user, who.role, who.csrf)
        request.state.set_access = access
        return who

    def set_cookies(self, response: Response, request: Request, access: str, refresh: str) -> None:
        secure = request.url.scheme == "https"
        response.set_cookie(
            ACCESS_COOKIE,
            access,
            max_age=self.tokens.access_ttl_s,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        response.set_cookie(
            REFRESH_COOKIE,
            refresh,
            max_age=self.tokens.refresh_ttl_s,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )

    async def login(self, request: Request, user: str, password: str) -> Principal | None:
        """Check a login under the rate limit; raises 429 while limited."""
        import asyncio

        client = request.client.host if request.client else "?"
        wait = self.limiter.retry_after_s(user, client)
        if wait:
            raise HTTPException(
                429,
                f"too many failed logins: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        role = await asyncio.to_thread(self.book.verify, user, password)
        if role is None:
            self.limiter.failed(user, client)
            return None
        return Principal(user, role, "")


def same_origin(request: Request) -> bool:
    """A browser's mutation must come from a page of this dashboard (Origin, else
    Referer, must name this host); API clients without either pass (Bearer, no cookie)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def check_mutation(request: Request, who: Principal, form_token: str | None = None) -> None:
    """CSRF and origin checks for a state-changing request authenticated by cookie."""
    if not who.via_cookie:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    given = request.headers.get("x-csrf-token") or form_token
    if not csrf_ok(who.csrf, given):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page")


def auth_routes(sessions: Sessions, render: Callable[..., HTMLResponse]) -> APIRouter:
    router = APIRouter()

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, error: str = "") -> Response:
        return render(request, "login.html", {"error": error, "who": None})

    @router.post("/login", include_in_schema=False)
    async def login_form(
        request: Request, username: str = Form(...), password: str = Form(...)
    ) -> Response:
        if not same_origin(request):
            raise HTTPException(403, "cross-origin login refused")
        try:
            who = await sessions.login(request, username, password)
        except HTTPException as exc:
            return render(request, "login.html", {"error": exc.detail, "who": None}, 429)
        if who is None:
            return render(request, "login.html", {"error": "wrong user or password"}, 401)
        access, refresh = sessions.tokens.issue(who.user, who.role)
        response = RedirectResponse("/", status_code=303)
        sessions.set_cookies(response, request, access, refresh)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        sessions.tokens.revoke(request.cookies.get(REFRESH_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.headers["HX-Redirect"] = "/login"
        response.delete_cookie(ACCESS_COOKIE, path="/")
        response.delete_cookie(REFRESH_COOKIE, path="/")
        return response

    @router.post("/api/auth/token", tags=["auth"])
    async def token(
        request: Request, username: str = Form(...), password: str = Form(...)
    ) -> JSONResponse:
        """Log in (form fields ``username``, ``password``): an access and a refresh token
        (``Authorization: Bearer <access_token>`` on every other API call)."""
        who = await sessions.login(request, username, password)
        if who is None:
            raise HTTPException(401, "wrong user or password")
        access, refresh = sessions.tokens.issue(who.user, who.role)
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": sessions.tokens.access_ttl_s,
                "role": who.role.value,
            }
        )

    @router.post("/api/auth/refresh", tags=["auth"])
    async def refresh(refresh_token: str = Form(...)) -> JSONResponse:
        """A new access token from a refresh token."""
        claims = sessions.tokens.check(refresh_token, REFRESH)
        if claims is None:
            raise HTTPException(401, "refresh token invalid, expired or revoked")
        who = principal(claims, via_cookie=False)
        access, _ = sessions.tokens.issue(who.user, who.role, who.csrf)
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": sessions.tokens.access_ttl_s,
            }
        )

    return router
