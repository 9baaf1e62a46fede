"""Console sign-in: argon2id, rehashing scrypt, refusals, throttling, CSRF, cookies."""

from __future__ import annotations

from typing import cast

import httpx
from sqlalchemy import Connection, Table, select

from integrations.console.auth import console_signer, safe_console_next
from integrations.staff.models import StaffAccountRow
from integrations.staff.passwords import ScryptHasher
from integrations.staff.throttle import SIGN_IN_LIMIT
from integrations.storage.repositories import Database

from .conftest import SECRET, Console
from .support import SESSION_COOKIE, csrf_in, open_case, sign_in

_table = cast(Table, StaffAccountRow.__table__)


async def stored_hash(db: Database | None, username: str) -> str:
    assert db is not None

    def unit(conn: Connection) -> str:
        query = select(_table.c.password_hash).where(_table.c.username == username)
        return str(conn.execute(query).scalar_one())

    return await db.run("read hash", unit)


def set_cookie_headers(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_an_agent_signs_in_with_an_argon2id_password(console: Console) -> None:
    assert (await stored_hash(console.storage.database, "agent1")).startswith("$argon2id$")
    async with console.client() as client:
        response = await sign_in(client, "agent1")
        assert response.status_code == 303
        assert response.headers["location"] == "/console"
        [session] = [c for c in set_cookie_headers(response) if c.startswith(SESSION_COOKIE)]
        attributes = {part.strip().lower() for part in session.split(";")}
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert "path=/console" in attributes and "secure" not in attributes
        page = await client.get("/console")
        assert page.status_code == 200
        assert "坐席小王" in page.text and "坐席" in page.text
    [entry] = await console.desk.audit_log()
    assert (entry.staff, entry.action) == ("agent1", "sign_in")


def test_the_cookie_is_secure_when_the_site_is_https() -> None:
    from starlette.responses import Response

    from integrations.staff.accounts import StaffAccount, StaffRole

    signer = console_signer(SECRET, secure=True)
    account = StaffAccount(
        id=1, username="agent1", display_name="x", role=StaffRole.AGENT, department_code=None,
        active=True, created_at=__import__("datetime").datetime(2026, 1, 1), last_login_at=None,
        session_stamp="stamp",
    )
    response = Response()
    signer.set_session_cookie(response, signer.issue(account))
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "samesite=strict" in cookie and "httponly" in cookie


async def test_a_scrypt_hash_from_before_is_rehashed_with_argon2id(console: Console) -> None:
    legacy = ScryptHasher(n=2**8).hash("scrypt-era-password")
    await console.accounts._update("agent2", "plant", password_hash=legacy)
    async with console.client() as client:
        assert (await sign_in(client, "agent2", "wrong-password")).status_code == 401
        assert await stored_hash(console.storage.database, "agent2") == legacy
        response = await sign_in(client, "agent2", "scrypt-era-password")
        assert response.status_code == 303
    rehashed = await stored_hash(console.storage.database, "agent2")
    assert rehashed.startswith("$argon2id$")
    async with console.client() as client:
        assert (await sign_in(client, "agent2", "scrypt-era-password")).status_code == 303


async def test_a_wrong_password_is_refused_without_a_session(console: Console) -> None:
    async with console.client() as client:
        response = await sign_in(client, "agent1", "not-the-password")
        assert response.status_code == 401
        assert "用户名或密码不正确" in response.text
        assert not any(c.startswith(SESSION_COOKIE) for c in set_cookie_headers(response))
        assert (await client.get("/console")).status_code == 303


async def test_repeated_failures_are_throttled(console: Console) -> None:
    async with console.client() as client:
        for _ in range(SIGN_IN_LIMIT):
            assert (await sign_in(client, "agent1", "guess-guess")).status_code == 401
        throttled = await sign_in(client, "agent1")  # even the right password waits now
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "分钟" in throttled.text
        console.clock.advance(minutes=16)
        assert (await sign_in(client, "agent1")).status_code == 303


async def test_a_sign_in_without_its_csrf_token_is_refused(console: Console) -> None:
    async with console.client() as client:
        page = await client.get("/console/login")
        assert csrf_in(page.text)
        response = await client.post(
            "/console/login", data={"username": "agent1", "password": "agent1-password"}
        )
        assert response.status_code == 403
        assert "登录页面已过期" in response.text
        assert (await client.get("/console")).status_code == 303


async def test_posts_without_the_session_csrf_token_are_refused(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    missing = await agent.post(f"/console/cases/{case.case_id}/claim", data={})
    assert missing.status_code == 403
    assert "页面已过期或来源不明" in missing.text
    forged = await agent.post(f"/console/cases/{case.case_id}/claim", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert (await console.desk.get(case.case_id)).claimed_by is None
    # The header works as well as the form field (for scripts).
    page = await agent.get("/console")
    header = await agent.post(
        f"/console/cases/{case.case_id}/claim", headers={"X-CSRF-Token": csrf_in(page.text)}
    )
    assert header.status_code == 303
    assert (await console.desk.get(case.case_id)).claimed_by == "agent1"


async def test_logout_needs_the_token_and_ends_the_session(
    console: Console, agent: httpx.AsyncClient
) -> None:
    page = await agent.get("/console")
    response = await agent.post("/console/logout", data={"csrf": csrf_in(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert (await agent.get("/console")).status_code == 303
    assert [e.action for e in await console.desk.audit_log()] == ["sign_out", "sign_in"]


async def test_only_console_roles_may_sign_in(console: Console) -> None:
    async with console.client() as client:
        refused = await sign_in(client, "dept")
        assert refused.status_code == 403
        assert "无权使用坐席工作台" in refused.text
        assert (await client.get("/console")).status_code == 303
    for username in ("lead1", "disp", "admin"):
        async with console.client() as client:
            assert (await sign_in(client, username)).status_code == 303
            assert (await client.get("/console")).status_code == 200


async def test_visitors_are_sent_to_sign_in_and_back(console: Console) -> None:
    case = await open_case(console.desk)
    async with console.client() as client:
        page = await client.get(f"/console/cases/{case.case_id}")
        assert page.status_code == 303
        assert page.headers["location"] == f"/console/login?next=/console/cases/{case.case_id}"
        assert (await client.get("/console/events")).status_code == 401
        assert (await client.get("/console/ping")).status_code == 401
        back = await sign_in(client, "agent1", next_path=f"/console/cases/{case.case_id}")
        assert back.headers["location"] == f"/console/cases/{case.case_id}"
        assert (await client.get("/console/ping")).status_code == 204


def test_next_stays_inside_the_console() -> None:
    assert safe_console_next("/console/cases/HO1") == "/console/cases/HO1"
    for bad in ("//evil.example/console", "https://evil.example", "/staff/workorders",
                "/console/login", "/\\evil", "/console/../x\n", None, ""):
        assert safe_console_next(bad) == "/console"


async def test_the_staff_cookie_is_not_a_console_cookie(console: Console) -> None:
    """Signing in at /staff/login does not open the console (nor the other way round)."""
    from integrations.staff.sessions import SessionSigner

    staff_signer = SessionSigner(SECRET, secure=False)
    account = await console.accounts.get_by_username("agent1")
    assert account is not None
    cookie = staff_signer.encode(staff_signer.issue(account))
    async with console.client() as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        assert (await client.get("/console")).status_code == 303


async def test_console_pages_forbid_inline_script(
    console: Console, agent: httpx.AsyncClient
) -> None:
    async with console.client() as visitor:
        login = await visitor.get("/console/login")
    for response in (await agent.get("/console"), login):
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text  # the only script is the file
    script = await agent.get("/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text
    assert (await agent.get("/console/static/nothing.js")).status_code == 404
