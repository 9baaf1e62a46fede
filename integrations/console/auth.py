"""Sign-in to the console: the staff accounts of the work-order pages, a cookie of its own.

The console signs in against the same :class:`StaffAccounts` (argon2id
passwords) and counts failures in the same :class:`SignInThrottle` as
``/staff/login``; its session cookie is its own (``minhu_console_session``,
path ``/console``, HttpOnly, SameSite=Strict, Secure when the public URL is
https), signed with the same secret under another key label
(:meth:`SessionSigner.for_area`). Only console roles (agent, supervisor,
dispatcher, admin) may sign in here.

Every POST carries the session's CSRF token, as the form field ``csrf`` (or
``csrf_token``) or the header ``X-CSRF-Token``; the sign-in form, which has
no session yet, carries the token of its own signed cookie (double submit).
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.datastructures import FormData

from bot.logs import mask_identifier
from integrations.staff.accounts import StaffAccount, StaffAccounts
from integrations.staff.sessions import SessionSigner, csrf_matches
from integrations.staff.throttle import SignInThrottle, throttled_message
from integrations.staff.web import SignedIn, form_text, safe_next_in

__all__ = [
    "CONSOLE_AREA",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "ConsoleAuth",
    "ConsoleRefusal",
    "ConsoleSignInRequired",
    "console_signer",
    "safe_console_next",
]

log = logging.getLogger("minhu.console")

CONSOLE_AREA = "/console"
LOGIN_PATH = "/console/login"
LOGOUT_PATH = "/console/logout"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


def console_signer(secret: str, *, secure: bool) -> SessionSigner:
    """The console's cookies: path /console, SameSite=Strict, a key of their own."""
    return SessionSigner.for_area(secret, area=CONSOLE_AREA, login_path=LOGIN_PATH, secure=secure)


def safe_console_next(value: str | None, default: str = CONSOLE_AREA) -> str:
    """``value`` when it is a local path inside the console, else ``default``."""
    return safe_next_in(
        value, CONSOLE_AREA, refused=(LOGIN_PATH, LOGOUT_PATH), default=default,
        refused_prefixes=(CONSOLE_AREA + "/static",),
    )


class ConsoleSignInRequired(HTTPException):
    """Not signed in: browsers go to the sign-in page, the live stream gets a 401."""

    def __init__(self, next_path: str, *, stale_cookie: bool = False) -> None:
        target = safe_console_next(next_path, default="")
        location = f"{LOGIN_PATH}?next={quote(target, safe='/')}" if target else LOGIN_PATH
        super().__init__(303, detail="请先登录。", headers={"Location": location})
        self.location = location
        self.stale_cookie = stale_cookie


class ConsoleRefusal(HTTPException):
    """A console request refused with a page (or JSON) saying why, in Chinese."""

    def __init__(
        self, status_code: int, title: str, message: str, *, signed_in: SignedIn | None = None
    ) -> None:
        super().__init__(status_code, detail=message)
        self.title = title
        self.message = message
        self.signed_in = signed_in


class ConsoleAuth:
    """Who is behind a console request, and whether their POST is theirs."""

    def __init__(
        self, accounts: StaffAccounts, sessions: SessionSigner, throttle: SignInThrottle
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.throttle = throttle

    async def signed_in(self, request: Request) -> SignedIn:
        """The signed-in member of staff with a console role; ``ConsoleSignInRequired``
        otherwise (a signed-in account without a console role gets a 403)."""
        cookie = request.cookies.get(self.sessions.session_cookie)
        session = self.sessions.decode(cookie)
        account = await self.accounts.get(session.account_id) if session else None
        if (
            session is None
            or account is None
            or not account.active
            or not secrets.compare_digest(account.session_stamp, session.stamp)
        ):
            raise ConsoleSignInRequired(_here(request), stale_cookie=cookie is not None)
        who = SignedIn(account, session)
        if not account.uses_console:
            raise ConsoleRefusal(403, "无权使用", "此账号无权使用坐席工作台。", signed_in=who)
        return who

    async def checked_form(self, request: Request) -> tuple[SignedIn, FormData]:
        """The signed-in member of staff and the posted form, whose CSRF token
        (form field or header) must be the session's: a 403 otherwise."""
        who = await self.signed_in(request)
        form = await request.form()
        given = (
            form_text(form, CSRF_FIELD) or form_text(form, "csrf_token")
            or request.headers.get(CSRF_HEADER, "")
        )
        if not csrf_matches(who.csrf_token, given):
            log.warning("console request without a valid CSRF token",
                        extra={"staff_id": who.account.id, "path": request.url.path})
            raise ConsoleRefusal(
                403, "请求已失效", "页面已过期或来源不明，请刷新页面后再操作。", signed_in=who
            )
        return who, form

    async def sign_in(
        self, username: str, password: str, address: str | None
    ) -> tuple[StaffAccount | None, str | None, int, float | None]:
        """Check a sign-in: (account, error message, status code, retry-after seconds)."""
        wait = await self.throttle.retry_after(username, address)
        if wait is not None:
            log.warning("console sign-in throttled", extra={"staff": mask_identifier(username)})
            return None, throttled_message(wait), 429, max(1.0, wait.total_seconds())
        account = await self.accounts.authenticate(username, password)
        if account is None:
            await self.throttle.record_failure(username, address)
            log.info("console sign-in failed", extra={"staff": mask_identifier(username)})
            return None, "用户名或密码不正确，或账号已停用。", 401, None
        await self.throttle.forget(account.username)
        if not account.uses_console:
            log.info("console sign-in refused for the role", extra={"staff_id": account.id})
            return None, "此账号无权使用坐席工作台，请使用工单系统登录。", 403, None
        log.info("console signed in", extra={"staff_id": account.id})
        return account, None, 303, None


def _here(request: Request) -> str:
    """Where to come back to after signing in (a form's target is no page to return to)."""
    if request.method != "GET":
        return CONSOLE_AREA
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path
