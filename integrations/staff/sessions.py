"""Signed session cookies for the staff pages, with a CSRF token in each.

A cookie is ``<payload>.<signature>``, both unpadded base64url: the payload
is a short ``|``-separated text, the signature its HMAC-SHA256 under a key
derived from the configured secret. Nothing is stored on the server; a
session ends when it expires (8 hours), when the browser drops the cookie
(sign-out), or when the account's password changes or the account is
deactivated (the page guard checks both on every request).

Two kinds of cookie are signed:

- the session (``s|account id|password stamp|expiry|csrf``), path ``/staff``;
- the sign-in form's token (``l|expiry|csrf``), path ``/staff/login``: the
  sign-in form has no session yet, so its CSRF token rides in a cookie of
  its own (signed double submit).

Both are HttpOnly and SameSite=Lax, and Secure when the public URL is https.

The escalation console (``/console``) signs its own pair of cookies the same
way, with its own names, path, key label and SameSite=Strict: see
:meth:`SessionSigner.for_area`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from starlette.responses import Response

from integrations.sealed import Seal
from integrations.staff.accounts import StaffAccount
from integrations.storage.codec import as_utc, utc_now

__all__ = [
    "COOKIE_PATH",
    "LOGIN_COOKIE",
    "LOGIN_COOKIE_PATH",
    "LOGIN_FORM_LIFETIME",
    "MIN_SECRET_LENGTH",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "SessionSigner",
    "StaffSession",
    "csrf_matches",
]

SESSION_COOKIE = "minhu_staff_session"
LOGIN_COOKIE = "minhu_staff_login"
COOKIE_PATH = "/staff"
LOGIN_COOKIE_PATH = "/staff/login"
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_FORM_LIFETIME = timedelta(hours=2)
MIN_SECRET_LENGTH = 32
# Longer cookies are not ours: refuse them before any decoding.
_MAX_COOKIE_LENGTH = 512
_KEY_LABEL = b"minhu staff cookies v1"
_SESSION_KIND = "s"
_LOGIN_KIND = "l"




def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    if not given:
        return False
    return secrets.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class StaffSession:
    account_id: int
    stamp: str
    expires_at: datetime
    csrf_token: str


class SessionSigner:
    """Makes and checks the staff cookies.

    ``secret`` must be the same on every replica and at least
    ``MIN_SECRET_LENGTH`` characters; ``secure`` adds the Secure attribute
    (set it when the public URL is https)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        secure: bool,
        lifetime: timedelta = SESSION_LIFETIME,
        clock: Callable[[], datetime] = utc_now,
        session_cookie: str = SESSION_COOKIE,
        login_cookie: str = LOGIN_COOKIE,
        cookie_path: str = COOKIE_PATH,
        login_cookie_path: str = LOGIN_COOKIE_PATH,
        samesite: Literal["lax", "strict"] = "lax",
        key_label: bytes = _KEY_LABEL,
    ) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(f"the staff session secret needs at least {MIN_SECRET_LENGTH} bytes")
        if lifetime <= timedelta(0):
            raise ValueError("a session lifetime must be positive")
        self._seal = Seal(
            hmac.new(raw, key_label, hashlib.sha256).digest(), max_length=_MAX_COOKIE_LENGTH
        )
        self.secure = secure
        self.lifetime = lifetime
        self._clock = clock
        self.session_cookie = session_cookie
        self.login_cookie = login_cookie
        self.cookie_path = cookie_path
        self.login_cookie_path = login_cookie_path
        self.samesite: Literal["lax", "strict"] = samesite

    @classmethod
    def for_area(
        cls,
        secret: str | bytes,
        *,
        area: str,
        login_path: str,
        secure: bool,
        lifetime: timedelta = SESSION_LIFETIME,
        clock: Callable[[], datetime] = utc_now,
    ) -> SessionSigner:
        """Cookies of another staff area (the console): named after it, scoped to its
        path, SameSite=Strict, and signed under a key of its own, so that no cookie
        of one area is ever accepted by another."""
        name = area.strip("/").replace("/", "_") or "root"
        return cls(
            secret, secure=secure, lifetime=lifetime, clock=clock,
            session_cookie=f"minhu_{name}_session", login_cookie=f"minhu_{name}_login",
            cookie_path=area, login_cookie_path=login_path, samesite="strict",
            key_label=_KEY_LABEL + b" " + area.encode("utf-8"),
        )

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # -- sessions

    def issue(self, account: StaffAccount) -> StaffSession:
        """A new session for ``account``, with a fresh CSRF token."""
        return StaffSession(
            account_id=account.id,
            stamp=account.session_stamp,
            expires_at=(self._now() + self.lifetime).replace(microsecond=0),
            csrf_token=secrets.token_urlsafe(24),
        )

    def encode(self, session: StaffSession) -> str:
        expires = int(session.expires_at.timestamp())
        return self._seal.seal(
            _SESSION_KIND, str(session.account_id), session.stamp, str(expires),
            session.csrf_token,
        )

    def decode(self, value: str | None) -> StaffSession | None:
        """The session in a cookie value; None when forged, altered, malformed or expired."""
        fields = self._seal.open(value, _SESSION_KIND, 4)
        if fields is None:
            return None
        account_id, stamp, expires, csrf = fields
        try:
            session = StaffSession(
                account_id=int(account_id),
                stamp=stamp,
                expires_at=datetime.fromtimestamp(int(expires), UTC),
                csrf_token=csrf,
            )
        except (ValueError, OverflowError, OSError):
            return None
        if session.expires_at <= self._now() or not csrf:
            return None
        return session

    # -- the sign-in form's token

    def issue_login_token(self) -> tuple[str, str]:
        """(cookie value, CSRF token for the form) for one sign-in form."""
        csrf = secrets.token_urlsafe(24)
        expires = int((self._now() + LOGIN_FORM_LIFETIME).timestamp())
        return self._seal.seal(_LOGIN_KIND, str(expires), csrf), csrf

    def login_token(self, value: str | None) -> str | None:
        """The CSRF token in a valid, unexpired sign-in form cookie."""
        fields = self._seal.open(value, _LOGIN_KIND, 2)
        if fields is None:
            return None
        expires, csrf = fields
        try:
            expires_at = datetime.fromtimestamp(int(expires), UTC)
        except (ValueError, OverflowError, OSError):
            return None
        if expires_at <= self._now() or not csrf:
            return None
        return csrf

    # -- cookies on responses

    def set_session_cookie(self, response: Response, session: StaffSession) -> None:
        response.set_cookie(
            self.session_cookie, self.encode(session),
            max_age=int(self.lifetime.total_seconds()), path=self.cookie_path,
            httponly=True, samesite=self.samesite, secure=self.secure,
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.session_cookie, path=self.cookie_path, httponly=True, samesite=self.samesite,
            secure=self.secure,
        )

    def set_login_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.login_cookie, value, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()),
            path=self.login_cookie_path, httponly=True, samesite=self.samesite,
            secure=self.secure,
        )

    def clear_login_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.login_cookie, path=self.login_cookie_path, httponly=True,
            samesite=self.samesite, secure=self.secure,
        )

    # -- signing
