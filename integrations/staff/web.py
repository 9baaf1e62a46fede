"""Sign-in for staff pages: the sign-in form, sign-out, and the guard every page uses.

Usage (the composition root)::

    staff = StaffWeb(accounts, SessionSigner(secret, secure=https), SignInThrottle(db))
    app.include_router(staff.router())
    app.include_router(build_workorder_pages(service, staff))

A page set builds its router with ``route_class=staff.route_class`` and
takes ``Depends(staff.current_staff)`` (or ``staff.signed_in``); a POST
handler calls ``await staff.checked_form(request)``, which refuses a form
without the session's CSRF token. A visitor who is not signed in is sent
to ``/staff/login?next=<the page>``; ``next`` is only ever a path under
``/staff``, so the sign-in page cannot be used to send anyone elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from bot.logs import mask_identifier
from integrations.staff.accounts import StaffAccount, StaffAccounts
from integrations.staff.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SessionSigner,
    StaffSession,
    csrf_matches,
)
from integrations.staff.templating import StaffTemplates
from integrations.staff.throttle import SignInThrottle, throttled_message

__all__ = [
    "DEFAULT_HOME",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "STYLESHEET_PATH",
    "SignInRequired",
    "SignedIn",
    "StaffRefusal",
    "StaffWeb",
    "build_staff_router",
    "form_text",
    "login_location",
    "safe_next",
]

log = logging.getLogger(__name__)

LOGIN_PATH = "/staff/login"
LOGOUT_PATH = "/staff/logout"
STYLESHEET_PATH = "/staff/static/staff.css"
DEFAULT_HOME = "/staff/workorders"
_STAFF_AREA = "/staff"
_MAX_NEXT_LENGTH = 512
_MAX_FIELD_LENGTH = 4000

RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The member of staff behind a request, and their session."""

    account: StaffAccount
    session: StaffSession

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


class SignInRequired(HTTPException):
    """Raised by the guard: a redirect to the sign-in page.

    Under ``route_class=staff.route_class`` it also clears a stale session
    cookie; anywhere else FastAPI still answers it as the same 303."""

    def __init__(self, next_path: str, *, stale_cookie: bool = False) -> None:
        super().__init__(303, detail="请先登录。", headers={"Location": login_location(next_path)})
        self.next_path = next_path
        self.stale_cookie = stale_cookie


class StaffRefusal(HTTPException):
    """Refuse a staff request with a page saying why (403, 404...), in Chinese.

    Under ``route_class=staff.route_class`` it is answered as a page in the
    staff layout; anywhere else, as FastAPI's JSON error with the message."""

    def __init__(
        self, status_code: int, title: str, message: str, *, signed_in: SignedIn | None = None
    ) -> None:
        super().__init__(status_code, detail=message)
        self.title = title
        self.message = message
        self.signed_in = signed_in


def login_location(next_path: str | None) -> str:
    """The sign-in page, to come back to ``next_path`` when that is a safe place."""
    target = safe_next(next_path, default="")
    return f"{LOGIN_PATH}?next={quote(target, safe='/')}" if target else LOGIN_PATH


def safe_next(value: str | None, default: str = DEFAULT_HOME) -> str:
    """``value`` when it is a local path inside the staff area, else ``default``."""
    return safe_next_in(value, _STAFF_AREA, refused=(LOGIN_PATH, LOGOUT_PATH), default=default)


def safe_next_in(
    value: str | None, area: str, *, refused: Sequence[str], default: str,
    refused_prefixes: Sequence[str] = (),
) -> str:
    """``value`` when it is a local path inside ``area`` (a path such as
    ``/staff``), else ``default``.

    Refuses anything a browser could read as another site (``//host``,
    ``/\\host``, a scheme), control characters, the ``refused`` paths (the
    sign-in and sign-out pages) and paths under ``refused_prefixes``."""
    if not value or len(value) > _MAX_NEXT_LENGTH:
        return default
    if any(ord(ch) < 0x21 or ch == "\\" or ord(ch) == 0x7F for ch in value):
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if parts.path != area and not parts.path.startswith(area + "/"):
        return default
    if parts.path in refused or parts.path.startswith(tuple(refused_prefixes)):
        return default
    return value


def form_text(form: FormData, name: str, *, limit: int = _MAX_FIELD_LENGTH) -> str:
    """A text field of a posted form, stripped; empty when missing or not text."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def _stylesheet() -> bytes:
    return (resources.files("integrations.staff") / "static" / "staff.css").read_bytes()


class StaffWeb:
    """The sign-in pages and the guard of every staff page."""

    def __init__(
        self,
        accounts: StaffAccounts,
        sessions: SessionSigner,
        throttle: SignInThrottle,
        *,
        home: str = DEFAULT_HOME,
        nav: Sequence[tuple[str, str]] = (("工单", DEFAULT_HOME),),
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.throttle = throttle
        self.home = home
        self.nav = tuple(nav)
        self.templates = StaffTemplates()
        self._css = _stylesheet()
        self.stylesheet_url = (
            f"{STYLESHEET_PATH}?v={hashlib.sha256(self._css).hexdigest()[:12]}"
        )
        self.route_class = self._make_route_class()

    # -- the guard

    async def signed_in(self, request: Request) -> SignedIn:
        """The signed-in member of staff; otherwise ``SignInRequired``."""
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.decode(cookie)
        account = await self.accounts.get(session.account_id) if session else None
        if (
            session is None
            or account is None
            or not account.active
            or not secrets.compare_digest(account.session_stamp, session.stamp)
        ):
            raise SignInRequired(self._here(request), stale_cookie=cookie is not None)
        return SignedIn(account, session)

    async def current_staff(self, request: Request) -> StaffAccount:
        """FastAPI dependency: the signed-in account (browsers go to sign in first)."""
        return (await self.signed_in(request)).account

    async def checked_form(self, request: Request) -> tuple[SignedIn, FormData]:
        """The signed-in member of staff and the posted form, whose CSRF token
        must be the session's (a 403 page otherwise)."""
        who = await self.signed_in(request)
        form = await request.form()
        if not csrf_matches(who.csrf_token, form_text(form, "csrf_token")):
            raise StaffRefusal(
                403, "请求已失效", "页面已过期或来源不明，请返回后刷新页面再操作。", signed_in=who
            )
        return who, form

    @staticmethod
    def _here(request: Request) -> str:
        if request.method != "GET":
            return request.url.path
        query = request.url.query
        return f"{request.url.path}?{query}" if query else request.url.path

    # -- rendering

    def context(self, signed_in: SignedIn | None, **extra: Any) -> dict[str, Any]:
        """What every staff page's template can use, plus ``extra``."""
        return {
            "staff": signed_in.account if signed_in else None,
            "csrf_token": signed_in.csrf_token if signed_in else "",
            "nav": self.nav,
            "stylesheet_url": self.stylesheet_url,
            "logout_path": LOGOUT_PATH,
            "current_nav": "",
            **extra,
        }

    def render(
        self,
        templates: StaffTemplates,
        name: str,
        signed_in: SignedIn | None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return templates.render(
            name, self.context(signed_in, **extra), status_code=status_code, headers=headers
        )

    def refusal_page(self, refusal: StaffRefusal) -> Response:
        return self.render(
            self.templates, "staff/refused.html", refusal.signed_in,
            status_code=refusal.status_code, title=refusal.title, message=refusal.message,
        )

    def sign_in_redirect(self, required: SignInRequired) -> Response:
        response = RedirectResponse(login_location(required.next_path), status_code=303)
        if required.stale_cookie:
            self.sessions.clear_session_cookie(response)
        return response

    def _make_route_class(self) -> type[APIRoute]:
        web = self

        class StaffRoute(APIRoute):
            """Turns the guard's signals into a redirect or a page, for this router only."""

            def get_route_handler(self) -> RouteHandler:
                handler = super().get_route_handler()

                async def guarded(request: Request) -> Response:
                    try:
                        return await handler(request)
                    except SignInRequired as required:
                        return web.sign_in_redirect(required)
                    except StaffRefusal as refusal:
                        return web.refusal_page(refusal)

                return guarded

        return StaffRoute

    # -- the sign-in pages

    def _login_page(
        self,
        *,
        next_path: str,
        username: str = "",
        error: str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        cookie, csrf = self.sessions.issue_login_token()
        response = self.render(
            self.templates, "staff/login.html", None, status_code=status_code, headers=headers,
            title="登录", login_csrf=csrf, next_path=next_path, username=username, error=error,
            login_path=LOGIN_PATH,
        )
        self.sessions.set_login_cookie(response, cookie)
        return response

    async def _show_login(self, request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"), self.home)
        try:
            await self.signed_in(request)
        except SignInRequired:
            return self._login_page(next_path=next_path)
        return RedirectResponse(next_path, status_code=303)

    async def _submit_login(self, request: Request) -> Response:
        form = await request.form()
        username = form_text(form, "username", limit=64)
        password = form.get("password")
        password = password if isinstance(password, str) else ""
        next_path = safe_next(form_text(form, "next"), self.home)
        expected = self.sessions.login_token(request.cookies.get(LOGIN_COOKIE))
        if expected is None or not csrf_matches(expected, form_text(form, "csrf_token")):
            return self._login_page(
                next_path=next_path, username=username, status_code=403,
                error="登录页面已过期，请重新输入后登录。",
            )
        if not username or not password:
            return self._login_page(
                next_path=next_path, username=username, status_code=400,
                error="请输入用户名和密码。",
            )
        address = request.client.host if request.client else None
        wait = await self.throttle.retry_after(username, address)
        if wait is not None:
            log.warning("staff sign-in throttled", extra={"staff": mask_identifier(username)})
            return self._login_page(
                next_path=next_path, username=username, status_code=429,
                error=throttled_message(wait),
                headers={"Retry-After": str(max(1, int(wait.total_seconds())))},
            )
        account = await self.accounts.authenticate(username, password)
        if account is None:
            await self.throttle.record_failure(username, address)
            log.info("staff sign-in failed", extra={"staff": mask_identifier(username)})
            return self._login_page(
                next_path=next_path, username=username, status_code=401,
                error="用户名或密码不正确，或账号已停用。",
            )
        await self.throttle.forget(account.username)
        log.info("staff signed in", extra={"staff_id": account.id})
        response = RedirectResponse(next_path, status_code=303)
        self.sessions.set_session_cookie(response, self.sessions.issue(account))
        self.sessions.clear_login_cookie(response)
        return response

    async def _logout(self, request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        with contextlib.suppress(SignInRequired):  # signed out already
            await self.checked_form(request)
        self.sessions.clear_session_cookie(response)
        return response

    def _stylesheet_response(self) -> Response:
        return Response(
            self._css, media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    def router(self) -> APIRouter:
        """``/staff`` (to the home page), ``/staff/login``, ``/staff/logout``, the stylesheet."""
        router = APIRouter(route_class=self.route_class)
        router.add_api_route(
            "/staff", self._home, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            LOGIN_PATH, self._show_login, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            LOGIN_PATH, self._submit_login, methods=["POST"], include_in_schema=False
        )
        router.add_api_route(
            LOGOUT_PATH, self._logout, methods=["POST"], include_in_schema=False
        )
        router.add_api_route(
            STYLESHEET_PATH, self._stylesheet_response, methods=["GET"], include_in_schema=False
        )
        return router

    async def _home(self) -> Response:
        return RedirectResponse(self.home, status_code=303)


def build_staff_router(
    accounts: StaffAccounts,
    sessions: SessionSigner,
    throttle: SignInThrottle,
    *,
    home: str = DEFAULT_HOME,
) -> APIRouter:
    """The sign-in router alone (use :class:`StaffWeb` to guard pages as well)."""
    return StaffWeb(accounts, sessions, throttle, home=home).router()
