"""Sign-in, sign-out and the guard of staff pages, through HTTP as a browser sees them."""

# No ``from __future__ import annotations`` here: FastAPI must see the Annotated
# dependency below as an object, and it names a local variable.
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse

from integrations.staff.accounts import StaffAccount, StaffAccounts
from integrations.staff.sessions import SESSION_COOKIE, SessionSigner
from integrations.staff.throttle import SignInThrottle
from integrations.staff.web import StaffWeb, form_text, safe_next

from .conftest import FakeClock
from .web_helpers import csrf_in, sign_in

HOME = "/staff/desk"


def build_app(web: StaffWeb) -> FastAPI:
    app = FastAPI()
    app.include_router(web.router())
    pages = APIRouter(route_class=web.route_class)

    @pages.get(HOME)
    async def desk(
        account: Annotated[StaffAccount, Depends(web.current_staff)],
    ) -> PlainTextResponse:
        return PlainTextResponse(f"欢迎 {account.display_name}")

    @pages.post(HOME)
    async def act(request: Request) -> PlainTextResponse:
        who, form = await web.checked_form(request)
        return PlainTextResponse(f"{who.account.username} 提交了 {form_text(form, 'what')}")

    app.include_router(pages)

    @app.get("/staff/plain")  # a route of the app's own, without the staff route class
    async def plain(
        account: Annotated[StaffAccount, Depends(web.current_staff)],
    ) -> PlainTextResponse:
        return PlainTextResponse(account.username)

    return app


@pytest.fixture
async def client(
    accounts: StaffAccounts, signer: SessionSigner, throttle: SignInThrottle
) -> AsyncIterator[httpx.AsyncClient]:
    await accounts.add("disp", "dispatch-pass", display_name="调度员甲", role="dispatcher")
    web = StaffWeb(accounts, signer, throttle, home=HOME, nav=(("工作台", HOME),))
    transport = httpx.ASGITransport(app=build_app(web))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_a_visitor_is_sent_to_sign_in_and_back(client: httpx.AsyncClient) -> None:
    away = await client.get(HOME, params={"view": "today"})
    assert away.status_code == 303
    assert away.headers["location"] == "/staff/login?next=/staff/desk%3Fview%3Dtoday"

    page = await client.get(away.headers["location"])
    assert page.status_code == 200
    assert "工作人员登录" in page.text and 'value="/staff/desk?view=today"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"

    done = await sign_in(client, "disp", "dispatch-pass", next_path="/staff/desk?view=today")
    assert done.status_code == 303 and done.headers["location"] == "/staff/desk?view=today"
    cookie = done.headers["set-cookie"]
    assert "minhu_staff_session=" in cookie and "HttpOnly" in cookie
    desk = await client.get(HOME)
    assert desk.status_code == 200 and desk.text == "欢迎 调度员甲"
    # Signed in already: the sign-in page goes straight on.
    again = await client.get("/staff/login")
    assert again.status_code == 303 and again.headers["location"] == HOME


async def test_a_wrong_password_is_refused_on_the_page(client: httpx.AsyncClient) -> None:
    refused = await sign_in(client, "disp", "not-the-password")
    assert refused.status_code == 401
    assert "用户名或密码不正确" in refused.text
    assert 'value="disp"' in refused.text  # the username is kept, the password is not
    assert "not-the-password" not in refused.text
    assert (await client.get(HOME)).status_code == 303


async def test_sign_in_without_the_form_token_is_forbidden(client: httpx.AsyncClient) -> None:
    await client.get("/staff/login")
    forged = await client.post(
        "/staff/login", data={"username": "disp", "password": "dispatch-pass"}
    )
    assert forged.status_code == 403
    assert "登录页面已过期" in forged.text
    wrong = await client.post(
        "/staff/login",
        data={"username": "disp", "password": "dispatch-pass", "csrf_token": "guessed"},
    )
    assert wrong.status_code == 403
    assert SESSION_COOKIE not in client.cookies


async def test_five_failures_pause_sign_in_even_with_the_right_password(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for _ in range(5):
        assert (await sign_in(client, "disp", "guess-guess")).status_code == 401
    paused = await sign_in(client, "disp", "dispatch-pass")
    assert paused.status_code == 429
    assert "登录失败次数过多" in paused.text and "15 分钟后再试" in paused.text
    assert paused.headers["retry-after"] == "900"
    clock.advance(minutes=15)
    assert (await sign_in(client, "disp", "dispatch-pass")).status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/staff",
        "//evil.example/staff",
        "/\\evil.example",
        "/staff\\..\\x",
        "javascript:alert(1)",
        "/elsewhere",
        "/staff/login",
        "/staff/de\nsk",
    ],
)
async def test_sign_in_never_redirects_off_the_staff_area(
    client: httpx.AsyncClient, target: str
) -> None:
    done = await sign_in(client, "disp", "dispatch-pass", next_path=target)
    assert done.status_code == 303
    assert done.headers["location"] == HOME


def test_safe_next_keeps_local_staff_paths() -> None:
    assert safe_next("/staff/workorders?status=受理") == "/staff/workorders?status=受理"
    assert safe_next("/staff") == "/staff"
    assert safe_next("/staffroom", "/home") == "/home"
    assert safe_next(None, "/home") == "/home"
    assert safe_next("/staff/" + "x" * 600, "/home") == "/home"


async def test_posting_a_form_needs_the_session_csrf_token(client: httpx.AsyncClient) -> None:
    await sign_in(client, "disp", "dispatch-pass")
    refused = await client.post(HOME, data={"what": "派单"})
    assert refused.status_code == 403
    assert "页面已过期或来源不明" in refused.text
    wrong = await client.post(HOME, data={"what": "派单", "csrf_token": "not-it"})
    assert wrong.status_code == 403
    done = await client.post(HOME, data={"what": "派单", "csrf_token": await session_csrf(client)})
    assert done.status_code == 200 and done.text == "disp 提交了 派单"


async def test_a_posted_form_without_a_session_goes_to_sign_in(client: httpx.AsyncClient) -> None:
    away = await client.post(HOME, data={"what": "派单", "csrf_token": "x"})
    assert away.status_code == 303
    assert away.headers["location"] == "/staff/login?next=/staff/desk"


async def test_sign_out_needs_the_token_and_ends_the_session(client: httpx.AsyncClient) -> None:
    await sign_in(client, "disp", "dispatch-pass")
    desk = await client.get("/staff/login")  # redirects: signed in
    assert desk.status_code == 303
    refused = await client.post("/staff/logout")
    assert refused.status_code == 403
    assert (await client.get(HOME)).status_code == 200
    token = await session_csrf(client)
    out = await client.post("/staff/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/staff/login"
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get(HOME)).status_code == 303


async def session_csrf(client: httpx.AsyncClient) -> str:
    """The CSRF token the pages put in their forms (read from a refusal page's
    sign-out form, which every signed-in page carries)."""
    page = await client.post(HOME, data={})
    return csrf_in(page.text)


async def test_a_session_ends_when_the_account_is_deactivated_or_its_password_changes(
    client: httpx.AsyncClient, accounts: StaffAccounts
) -> None:
    await sign_in(client, "disp", "dispatch-pass")
    await accounts.set_password("disp", "a-new-password")
    away = await client.get(HOME)
    assert away.status_code == 303
    assert SESSION_COOKIE not in client.cookies  # the stale cookie is cleared
    await sign_in(client, "disp", "a-new-password")
    assert (await client.get(HOME)).status_code == 200
    await accounts.deactivate("disp")
    assert (await client.get(HOME)).status_code == 303
    assert (await sign_in(client, "disp", "a-new-password")).status_code == 401


async def test_an_expired_or_tampered_session_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await sign_in(client, "disp", "dispatch-pass")
    value = client.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, value[:-3] + "AAA", path="/staff")
    assert (await client.get(HOME)).status_code == 303
    client.cookies.set(SESSION_COOKIE, value, path="/staff")
    assert (await client.get(HOME)).status_code == 200
    clock.advance(hours=8)
    assert (await client.get(HOME)).status_code == 303


async def test_the_stylesheet_is_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/staff/login")
    href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/staff/static/staff.css?v=")
    css = await client.get(href)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ".badge-urgent" in css.text
    assert "http" not in css.text  # nothing fetched from elsewhere


async def test_the_guard_works_on_any_route(client: httpx.AsyncClient) -> None:
    away = await client.get("/staff/plain")
    assert away.status_code == 303
    assert away.headers["location"] == "/staff/login?next=/staff/plain"
    await sign_in(client, "disp", "dispatch-pass")
    assert (await client.get("/staff/plain")).text == "disp"
