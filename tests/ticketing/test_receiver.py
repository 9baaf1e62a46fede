"""The status webhook the bot receives, and the polling helper."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from bot.errors import MalformedPayload
from bot.types import StatusChange, Ticket, TicketDraft, TicketStatus
from integrations.ticketing.receiver import (
    build_status_webhook,
    parse_status_event,
    status_changes,
)
from integrations.ticketing.signing import DELIVERY_HEADER, signed_headers

SECRET = "webhook-test-secret"
URL = "http://bot.test/tickets/webhook"
BEIJING = timezone(timedelta(hours=8))


def event(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": "status_changed",
        "delivery_id": "d0c5e1f2a3b4",
        "service_request_id": "MH202611230007",
        "status": "已办结",
        "previous": "办理中",
        "open311_status": "closed",
        "note": "路灯已修复，感谢您的反映",
        "department": "示范区城管委",
        "department_code": "cgw",
        "adopted": None,
        "at": "2026-11-25T16:30:00+08:00",
    }
    body.update(overrides)
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[StatusChange, str]] = []
        self.failures = 0

    async def __call__(self, change: StatusChange, delivery_id: str) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the desk's database is down")
        self.calls.append((change, delivery_id))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = build_status_webhook(secret=SECRET, on_change=recorder, max_body_bytes=4096)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client


async def post(
    http: httpx.AsyncClient, body: bytes, *, secret: str = SECRET, delivery: str = "d0c5e1f2a3b4",
    now: float | None = None, headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = signed_headers(secret, delivery, body, now=now) if headers is None else headers
    return await http.post(URL, content=body, headers=sent)


async def test_a_signed_event_reaches_the_callback_once(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await post(http, encode(event()))

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert recorder.calls == [(
        StatusChange(
            ticket_id="MH202611230007",
            status=TicketStatus.FINISHED,
            at=datetime(2026, 11, 25, 16, 30, tzinfo=BEIJING),
            note="路灯已修复，感谢您的反映",
            department="示范区城管委",
            previous=TicketStatus.IN_PROGRESS,
            adopted=None,
        ),
        "d0c5e1f2a3b4",
    )]


@pytest.mark.parametrize(
    "forgery",
    ["wrong_secret", "no_headers", "stale", "body_changed", "no_signature"],
)
async def test_a_forged_missing_or_stale_signature_is_refused_unprocessed(
    http: httpx.AsyncClient, recorder: Recorder, forgery: str
) -> None:
    body = encode(event())
    headers = signed_headers(SECRET, "d0c5e1f2a3b4", body)
    if forgery == "wrong_secret":
        headers = signed_headers("guessed-secret", "d0c5e1f2a3b4", body)
    elif forgery == "no_headers":
        headers = {"Content-Type": "application/json"}
    elif forgery == "stale":
        headers = signed_headers(SECRET, "d0c5e1f2a3b4", body, now=time.time() - 3600)
    elif forgery == "body_changed":
        body = encode(event(status="已关闭"))
    elif forgery == "no_signature":
        headers.pop("X-Minhu-Signature")

    response = await post(http, body, headers=headers)

    assert response.status_code == 403
    assert recorder.calls == []


async def test_a_delivery_header_swapped_after_signing_is_refused(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    body = encode(event())
    headers = signed_headers(SECRET, "d0c5e1f2a3b4", body)
    # The header is not covered by the signature; the body's copy is.
    headers[DELIVERY_HEADER] = "another-delivery"

    response = await post(http, body, headers=headers)

    assert response.status_code == 403
    assert recorder.calls == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        encode(["a", "list"]),
        encode(event(event="rating_changed")),
        encode({k: v for k, v in event().items() if k != "service_request_id"}),
        encode(event(status="半路上")),
        encode(event(status=None)),
        encode(event(previous="前一个")),
        encode(event(at="2026-11-25 16:30")),
        encode(event(at="yesterday")),
        encode(event(adopted="yes")),
        encode(event(note=12)),
        encode(event(delivery_id="")),
    ],
)
async def test_a_signed_but_malformed_event_is_a_bad_request(
    http: httpx.AsyncClient, recorder: Recorder, body: bytes
) -> None:
    response = await post(http, body)

    assert response.status_code == 400
    assert recorder.calls == []


async def test_an_oversize_declared_body_is_refused(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    body = encode(event(note="很" * 5000))

    response = await post(http, body)

    assert response.status_code == 413
    assert recorder.calls == []


async def test_a_streamed_oversize_body_is_cut_off_without_reading_the_rest(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    produced = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(100):
            produced += 1
            yield b"x" * 1024

    headers = signed_headers(SECRET, "d0c5e1f2a3b4", b"")
    response = await http.post(URL, content=chunks(), headers=headers)

    assert response.status_code == 413
    assert produced < 10
    assert recorder.calls == []


async def test_a_failing_callback_answers_503_and_the_retry_goes_through(
    http: httpx.AsyncClient, recorder: Recorder
) -> None:
    recorder.failures = 1
    body = encode(event())

    first = await post(http, body)
    second = await post(http, body)

    assert first.status_code == 503
    assert second.status_code == 200
    assert [delivery for _, delivery in recorder.calls] == ["d0c5e1f2a3b4"]


async def test_only_post_is_allowed(http: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await http.get(URL)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert recorder.calls == []


async def test_it_mounts_as_a_route_of_the_app(recorder: Recorder) -> None:
    app = FastAPI()
    webhook = build_status_webhook(secret=SECRET, on_change=recorder)
    app.router.routes.append(Route("/tickets/webhook", endpoint=webhook))
    body = encode(event(status="已派单", previous="受理", note=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        response = await post(client, body)

    assert response.status_code == 200
    assert recorder.calls[0][0].status is TicketStatus.DISPATCHED
    assert recorder.calls[0][0].note is None


def test_a_webhook_without_a_secret_cannot_be_built(recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="secret"):
        build_status_webhook(secret="", on_change=recorder)


def test_parse_status_event_reads_a_suggestions_outcome() -> None:
    change, delivery = parse_status_event(encode(event(
        status="已办结", previous=None, department=None, adopted=False,
        at="2026-11-25T08:30:00Z",
    )))

    assert delivery == "d0c5e1f2a3b4"
    assert change.previous is None
    assert change.department is None
    assert change.adopted is False
    assert change.at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def test_parse_status_event_refuses_a_time_without_an_offset() -> None:
    with pytest.raises(MalformedPayload):
        parse_status_event(encode(event(at="2026-11-25T16:30:00")))


# ---------------------------------------------------------------- polling

CREATED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def snapshot(status: TicketStatus, *, minutes: int = 0, note: str | None = None,
             history: tuple[StatusChange, ...] = ()) -> Ticket:
    return Ticket(
        ticket_id="1001",
        draft=TicketDraft(request_type="", description="路灯坏了", address="和平路"),
        status=status,
        created_at=CREATED,
        updated_at=CREATED + timedelta(minutes=minutes),
        status_note=note,
        department="城管委" if minutes else None,
        history=history,
    )


def test_without_a_previous_snapshot_the_current_state_is_new() -> None:
    ((change, event_id),) = status_changes(None, snapshot(TicketStatus.ACCEPTED))

    assert change.status is TicketStatus.ACCEPTED
    assert change.previous is None
    assert change.at == CREATED
    assert event_id.startswith("poll:1001:受理:")


def test_nothing_changed_gives_nothing() -> None:
    same = snapshot(TicketStatus.IN_PROGRESS, minutes=5, note="已联系维修")
    assert status_changes(same, replace(same)) == []


def test_open_to_closed_is_one_change_with_the_note() -> None:
    before = snapshot(TicketStatus.IN_PROGRESS, minutes=5)
    after = snapshot(TicketStatus.FINISHED, minutes=90, note="已修复")

    ((change, event_id),) = status_changes(before, after)

    assert change == StatusChange(
        ticket_id="1001", status=TicketStatus.FINISHED, at=CREATED + timedelta(minutes=90),
        note="已修复", department="城管委", previous=TicketStatus.IN_PROGRESS,
    )
    # The same two snapshots always give the same id (dedup on redelivery).
    assert status_changes(before, after)[0][1] == event_id


def test_a_new_note_with_the_same_status_is_a_change() -> None:
    before = snapshot(TicketStatus.IN_PROGRESS, minutes=5, note="已联系维修")
    after = snapshot(TicketStatus.IN_PROGRESS, minutes=5, note="维修队明天上门")

    ((change, event_id),) = status_changes(before, after)

    assert change.note == "维修队明天上门"
    assert change.previous is TicketStatus.IN_PROGRESS
    # Same time as before, another note: another id.
    assert event_id != status_changes(None, before)[0][1]


def test_with_history_every_new_entry_is_a_change_in_order() -> None:
    def entry(status: TicketStatus, previous: TicketStatus, minutes: int) -> StatusChange:
        return StatusChange(ticket_id="1001", status=status, previous=previous,
                            at=CREATED + timedelta(minutes=minutes))

    dispatched = entry(TicketStatus.DISPATCHED, TicketStatus.ACCEPTED, 10)
    working = entry(TicketStatus.IN_PROGRESS, TicketStatus.DISPATCHED, 30)
    finished = entry(TicketStatus.FINISHED, TicketStatus.IN_PROGRESS, 90)
    before = snapshot(TicketStatus.DISPATCHED, minutes=10, history=(dispatched,))
    after = snapshot(TicketStatus.FINISHED, minutes=90,
                     history=(dispatched, working, finished))

    found = status_changes(before, after)

    assert [change for change, _ in found] == [working, finished]
    ids = [event_id for _, event_id in found]
    assert len(set(ids)) == 2
    assert ids == [event_id for _, event_id in status_changes(before, after)]
