"""Staff alerts: to the log, or posted to a staff system with the log as fallback."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from bot.types import Channel, ConversationKey
from integrations.ticketing.alerts import HttpStaffAlerts, LogStaffAlerts
from integrations.ticketing.signing import verify

KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "oABCDEFGHIJKLMNOPQRSTUVWXYZ1")
URL = "http://staff.test/alerts"
AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def clock() -> datetime:
    return AT


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)


async def test_a_log_alert_is_a_warning_without_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="minhu.ticketing")

    await LogStaffAlerts().alert(
        kind="emergency", key=KEY, text="居民报告着火，电话13812345678", ticket_id="MH202611230007"
    )

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    text = logged(caplog)
    assert "emergency" in text
    assert "居民报告着火" in text
    assert "MH202611230007" in text
    assert "13812345678" not in text
    assert KEY.user not in text


async def test_an_http_alert_is_posted_signed_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[httpx.Request] = []

    def staff(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    caplog.set_level(logging.INFO, logger="minhu.ticketing")
    async with httpx.AsyncClient(transport=httpx.MockTransport(staff)) as http:
        alerts = HttpStaffAlerts(http, url=URL, secret="staff-secret", fallback=LogStaffAlerts(),
                                 clock=clock)
        await alerts.alert(kind="bad_rating", key=KEY, text="居民评价：非常不满意",
                           ticket_id="MH202611230007")

    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    # The staff system can check it came from us.
    assert verify("staff-secret", request.headers, request.content)
    assert json.loads(request.content) == {
        "kind": "bad_rating",
        "conversation": KEY.as_str(),
        "text": "居民评价：非常不满意",
        "ticket_id": "MH202611230007",
        "at": AT.isoformat(),
    }
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


async def test_without_a_secret_the_alert_goes_unsigned() -> None:
    seen: list[httpx.Request] = []

    def staff(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(staff)) as http:
        alerts = HttpStaffAlerts(http, url=URL, secret=None, fallback=LogStaffAlerts())
        await alerts.alert(kind="emergency", key=KEY, text="有人晕倒")

    (request,) = seen
    assert "X-Minhu-Signature" not in request.headers
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.content)["ticket_id"] is None


@pytest.mark.parametrize("failure", ["connect", "timeout", "500", "403"])
async def test_a_failed_post_falls_back_to_the_log_and_never_raises(
    caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    def staff(request: httpx.Request) -> httpx.Response:
        if failure == "connect":
            raise httpx.ConnectError("refused", request=request)
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(int(failure))

    caplog.set_level(logging.INFO, logger="minhu.ticketing")
    async with httpx.AsyncClient(transport=httpx.MockTransport(staff)) as http:
        alerts = HttpStaffAlerts(http, url=URL, secret="s", fallback=LogStaffAlerts())
        await alerts.alert(kind="filing_rejected", key=KEY, text="工单系统拒收，需要人工登记",
                           ticket_id=None)

    fallback = [r for r in caplog.records if r.getMessage().startswith("staff alert (")]
    assert len(fallback) == 1
    assert "工单系统拒收，需要人工登记" in fallback[0].getMessage()
    assert KEY.user not in logged(caplog)


async def test_an_unexpected_error_in_the_client_still_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("something nobody planned for")

    caplog.set_level(logging.INFO, logger="minhu.ticketing")
    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as http:
        alerts = HttpStaffAlerts(http, url=URL, secret=None, fallback=LogStaffAlerts())
        await alerts.alert(kind="emergency", key=KEY, text="煤气泄漏")

    assert any("煤气泄漏" in r.getMessage() for r in caplog.records)
