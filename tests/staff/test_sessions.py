"""Signed session cookies: what is accepted, what is refused, and the cookie attributes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from starlette.responses import Response

from integrations.staff.accounts import StaffAccount, StaffRole
from integrations.staff.sessions import SessionSigner, csrf_matches

from .conftest import SECRET, FakeClock

ACCOUNT = StaffAccount(
    id=42, username="disp", display_name="调度员甲", role=StaffRole.DISPATCHER,
    department_code=None, active=True, created_at=datetime(2026, 1, 1, tzinfo=UTC),
    last_login_at=None, session_stamp="0123456789abcdef",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_session_round_trips(signer: SessionSigner, clock: FakeClock) -> None:
    session = signer.issue(ACCOUNT)
    assert session.account_id == 42 and session.stamp == ACCOUNT.session_stamp
    assert session.expires_at == (clock.now + timedelta(hours=8)).replace(microsecond=0)
    assert len(session.csrf_token) >= 24
    assert signer.decode(signer.encode(session)) == session
    assert signer.issue(ACCOUNT).csrf_token != session.csrf_token


def test_a_tampered_cookie_is_refused(signer: SessionSigner) -> None:
    cookie = signer.encode(signer.issue(ACCOUNT))
    payload, signature = cookie.split(".")
    forged = _unb64(payload).replace(b"|42|", b"|1|")
    assert forged != _unb64(payload)
    assert signer.decode(f"{_b64(forged)}.{signature}") is None
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert signer.decode(f"{payload}.{flipped}") is None
    other = SessionSigner("another-secret-that-is-long-enough-000000000", secure=False)
    assert other.decode(cookie) is None


@pytest.mark.parametrize(
    "value",
    [None, "", "abc", "a.b.c", "!!!.???", "." , "x" * 600 + "." + "y", "czEy.AAAA"],
)
def test_garbage_is_no_session(signer: SessionSigner, value: str | None) -> None:
    assert signer.decode(value) is None


def test_a_session_expires_after_eight_hours(signer: SessionSigner, clock: FakeClock) -> None:
    cookie = signer.encode(signer.issue(ACCOUNT))
    clock.advance(hours=7, minutes=59)
    assert signer.decode(cookie) is not None
    clock.advance(minutes=1)
    assert signer.decode(cookie) is None


def test_login_form_tokens_and_sessions_are_not_interchangeable(signer: SessionSigner) -> None:
    login_cookie, csrf = signer.issue_login_token()
    assert signer.login_token(login_cookie) == csrf
    assert signer.decode(login_cookie) is None
    session_cookie = signer.encode(signer.issue(ACCOUNT))
    assert signer.login_token(session_cookie) is None


def test_a_login_form_token_expires(signer: SessionSigner, clock: FakeClock) -> None:
    login_cookie, _ = signer.issue_login_token()
    clock.advance(hours=3)
    assert signer.login_token(login_cookie) is None


def test_cookies_are_http_only_lax_and_secure_over_https(clock: FakeClock) -> None:
    for secure in (False, True):
        signer = SessionSigner(SECRET, secure=secure, clock=clock)
        response = Response()
        signer.set_session_cookie(response, signer.issue(ACCOUNT))
        header = response.headers["set-cookie"]
        assert header.startswith("minhu_staff_session=")
        assert "HttpOnly" in header and "SameSite=lax" in header
        assert "Path=/staff" in header and "Max-Age=28800" in header
        assert ("Secure" in header) is secure


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        SessionSigner("too short", secure=False)


def test_csrf_tokens_compare_exactly() -> None:
    assert csrf_matches("token-1", "token-1")
    assert not csrf_matches("token-1", "token-2")
    assert not csrf_matches("token-1", None)
    assert not csrf_matches("token-1", "")
