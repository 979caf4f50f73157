"""What the dashboard's routes share: its parts, the template environment, and the
exception that sends a visitor without a login to the login page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from quantum_trader import __version__
from quantum_trader.dashboard.actions import Operator
from quantum_trader.dashboard.auth import Principal
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.live import LiveState
from quantum_trader.dashboard.session import Sessions

HERE = Path(__file__).parent


class LoginNeeded(Exception):
    """No valid login: a page goes to /login, an API call or fragment gets 401."""


@dataclass
class Dashboard:
    """The running dashboard's parts (what the routes share)."""

    ctx: DashboardContext
    live: LiveState
    sessions: Sessions
    operator: Operator
    templates: jinja2.Environment

    def who(self, request: Request) -> Principal:
        found = self.sessions.resolve(request)
        if found is None:
            raise LoginNeeded()
        return found

    def render(
        self, request: Request, name: str, data: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        who = getattr(request.state, "who", None)
        page = self.templates.get_template(name).render(
            {
                **data,
                "who": data.get("who", who),
                "label": self.ctx.label,
                "namespace": self.ctx.keys.prefix,
                "version": __version__,
                "path": request.url.path,
            }
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.ChainableUndefined,  # a field a state lacks reads empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["signed"] = lambda v: (
        "" if v is None else ("pos" if not str(v).startswith("-") else "neg")
    )
    return env
