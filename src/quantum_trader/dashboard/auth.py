"""Who may use the dashboard, and how a login is carried.

* Passwords: argon2 hashes from the settings (``dashboard.users``); a password given in
  plain text there is hashed at start. An unknown user name costs the same argon2 work
  as a known one, so timing does not tell which names exist.
* A login yields a short-lived **access token** and a longer **refresh token**, both
  HS256 JWTs (``typ`` access / refresh). Pages carry them in HttpOnly, SameSite=Strict
  cookies; the JSON API also takes ``Authorization: Bearer``. A logout revokes its
  refresh token. Each login has a CSRF secret (``csrf`` claim, also shown to its pages):
  every mutation authenticated by cookie must echo it in ``X-CSRF-Token``.
* Failed logins are limited per user name and per client address (``login_attempts``
  per ``login_window_s``), on the steady clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from quantum_trader.clock import Clock, SystemClock, steady_clock
from quantum_trader.config import DashboardRole, DashboardSettings

ACCESS = "access"
REFRESH = "refresh"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash to put in ``dashboard.users.<name>.password``."""
    return _hasher.hash(password)


def _is_hash(text: str) -> bool:
    return text.startswith("$argon2")


@dataclass(frozen=True, slots=True)
class Principal:
    """A logged-in user as a request sees them."""

    user: str
    role: DashboardRole
    csrf: str
    via_cookie: bool = True

    @property
    def may_act(self) -> bool:
        return self.role is DashboardRole.ADMIN


class PasswordBook:
    """User name -> (argon2 hash, role)."""

    def __init__(self, users: Mapping[str, tuple[str, DashboardRole]]) -> None:
        self._users = dict(users)
        self._dummy = _hasher.hash(secrets.token_hex(16))

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> PasswordBook:
        users = {}
        for name, user in settings.users.items():
            secret = user.password.get_secret_value()
            users[name] = (secret if _is_hash(secret) else _hasher.hash(secret), user.role)
        return cls(users)

    @classmethod
    def generated(cls, user: str = "admin") -> tuple[PasswordBook, str]:
        """A book of one admin with a fresh random password (returned to show once):
        what a dashboard with no configured users starts with."""
        password = secrets.token_urlsafe(12)
        return cls({user: (_hasher.hash(password), DashboardRole.ADMIN)}), password

    @property
    def names(self) -> list[str]:
        return sorted(self._users)

    def verify(self, user: str, password: str) -> DashboardRole | None:
        """The user's role if ``password`` is theirs, else None (same work either way)."""
        stored, role = self._users.get(user, (self._dummy, DashboardRole.VIEWER))
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return role if user in self._users else None


@dataclass
class Tokens:
    """Issues and checks the login tokens (times on the wall clock: tokens are real time)."""

    secret: str
    access_ttl_s: int = 900
    refresh_ttl_s: int = 43_200
    wall: Clock = field(default_factory=SystemClock)
    _revoked: dict[str, int] = field(default_factory=dict)  # refresh jti -> its expiry (s)

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> Tokens:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        return cls(
            secret or secrets.token_urlsafe(48),
            settings.access_token_ttl_s,
            settings.refresh_token_ttl_s,
        )

    def _now_s(self) -> int:
        return self.wall.now_ms() // 1000

    def issue(self, user: str, role: DashboardRole, csrf: str | None = None) -> tuple[str, str]:
        """A fresh (access, refresh) pair; ``csrf`` carries over from a refreshed login."""
        now = self._now_s()
        csrf = csrf or secrets.token_urlsafe(24)
        common = {"sub": user, "role": role.value, "csrf": csrf, "iat": now}
        access = {**common, "typ": ACCESS, "exp": now + self.access_ttl_s}
        refresh = {
            **common,
            "typ": REFRESH,
            "exp": now + self.refresh_ttl_s,
            "jti": secrets.token_urlsafe(16),
        }
        return self._sign(access), self._sign(refresh)

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def check(self, token: str, kind: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired, unrevoked token of ``kind``; else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "typ"], "verify_iat": False},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != kind or claims.get("role") not in DashboardRole._value2member_map_:
            return None
        if claims["exp"] <= self._now_s():
            return None
        if kind == REFRESH and claims.get("jti") in self._revoked:
            return None
        return claims

    def revoke(self, refresh_token: str) -> None:
        claims = self.check(refresh_token, REFRESH)
        if claims is not None:
            now = self._now_s()
            self._revoked = {j: e for j, e in self._revoked.items() if e > now}
            self._revoked[str(claims["jti"])] = int(claims["exp"])


def principal(claims: Mapping[str, Any], via_cookie: bool) -> Principal:
    return Principal(
        str(claims["sub"]), DashboardRole(claims["role"]), str(claims.get("csrf", "")), via_cookie
    )


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected, given)


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per user name and per client address in any
    ``window_s``; a success does not reset the client's count (no probing between)."""

    attempts: int = 5
    window_s: int = 300
    clock: Clock = field(default_factory=steady_clock)
    _failures: dict[str, deque[int]] = field(default_factory=dict)

    def _keys(self, user: str, client: str) -> tuple[str, str]:
        name = hashlib.sha256(user.encode()).hexdigest()[:16]
        return f"user:{name}", f"client:{client}"

    def retry_after_s(self, user: str, client: str) -> int:
        """0 when a login may be tried now, else the seconds until it may."""
        now, window = self.clock.now_ms(), self.window_s * 1000
        wait = 0
        for key in self._keys(user, client):
            seen = self._failures.get(key)
            if not seen:
                continue
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= self.attempts:
                wait = max(wait, (seen[0] + window - now + 999) // 1000)
        return wait

    def failed(self, user: str, client: str) -> None:
        now = self.clock.now_ms()
        for key in self._keys(user, client):
            self._failures.setdefault(key, deque()).append(now)
