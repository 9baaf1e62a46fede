"""The Open311 clients: what they send, how they read answers, how they fail.

The plain client runs against the fake standard server; the built-in
client's extension handling runs against canned answers in the shape of
minhu's work-order service (its real router is exercised by the contract
suite in tests/contracts/test_ticket_backend_contract.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.errors import BackendRejected, BackendUnavailable, TicketNotFound, UnsupportedByBackend
from bot.ports import BACKEND_CAPABILITIES
from bot.types import Location, TicketDraft, TicketStatus
from integrations.ticketing.open311 import (
    DESCRIPTION_LIMIT,
    GET_MANY_CHUNK,
    SERVICES_TTL_SECONDS,
    BuiltinClient,
    Open311Client,
)
from tests.ticketing.fake_open311 import API_KEY, BASE_URL, FakeOpen311

DRAFT = TicketDraft(
    request_type="complain",
    category="城乡建设",
    description="和平路12号门口的路灯坏了一周，晚上很黑",
    address="和平路12号",
    location=Location(latitude=31.2304, longitude=121.4737),
    occurred_at="上周三晚上",
    phone="13812345678",
    photos=("https://img.example/a.jpg", "wx-media-id-123", "https://img.example/b.jpg"),
    district="示范区",
)


class Ticks:
    """A settable monotonic clock for the service cache."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def fake() -> FakeOpen311:
    return FakeOpen311()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def client(fake: FakeOpen311, ticks: Ticks) -> AsyncIterator[Open311Client]:
    async with fake.client() as http:
        yield Open311Client(http, base_url=BASE_URL, api_key=API_KEY, monotonic=ticks)


async def _file(client: Open311Client, draft: TicketDraft = DRAFT, key: str = "sub-1") -> str:
    receipt = await client.file(draft, idempotency_key=key, account_id="mh-abcdef123456")
    assert receipt.ticket_id is not None
    return receipt.ticket_id


# ---------------------------------------------------------------- filing


async def test_filing_sends_the_standard_fields_and_the_extensions(
    client: Open311Client, fake: FakeOpen311
) -> None:
    receipt = await client.file(DRAFT, idempotency_key="sub-1", account_id="mh-abcdef123456")

    assert receipt.ticket_id == "1001"
    assert receipt.token is None
    assert receipt.notice == "我们会尽快处理"
    (sent,) = fake.filings()
    assert sent.headers["Idempotency-Key"] == "sub-1"
    assert sent.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert sent.field("api_key") == API_KEY
    assert sent.field("service_code") == "001"
    assert float(sent.field("lat") or 0) == pytest.approx(31.2304)
    assert float(sent.field("long") or 0) == pytest.approx(121.4737)
    assert sent.field("address_string") == "和平路12号"
    assert sent.field("description") == DRAFT.description
    assert sent.field("account_id") == "mh-abcdef123456"
    assert sent.field("phone") == "13812345678"
    # The media id is no URL a server could fetch: only the URLs go.
    assert sent.fields("media_url") == ["https://img.example/a.jpg", "https://img.example/b.jpg"]
    assert sent.field("attribute[request_type]") == "complain"
    assert sent.field("attribute[category]") == "城乡建设"
    assert sent.field("attribute[occurred_at]") == "上周三晚上"
    assert sent.field("attribute[anonymous]") == "false"
    assert sent.field("attribute[urgent]") == "false"
    assert sent.field("attribute[district]") == "示范区"
    assert sent.field("jurisdiction_id") is None


async def test_an_anonymous_request_does_not_send_the_phone(
    client: Open311Client, fake: FakeOpen311
) -> None:
    draft = TicketDraft(request_type="report", category="环境保护", description="夜里偷排污水",
                        address="河滨路", phone="13812345678", anonymous=True, urgent=True)
    await _file(client, draft)

    (sent,) = fake.filings()
    assert sent.field("phone") is None
    assert sent.field("attribute[anonymous]") == "true"
    assert sent.field("attribute[urgent]") == "true"
    assert sent.field("lat") is None and sent.field("long") is None
    assert sent.field("service_code") == "002"


async def test_a_long_description_is_cut_to_the_limit_with_an_ellipsis(
    client: Open311Client, fake: FakeOpen311
) -> None:
    draft = TicketDraft(request_type="suggest", description="建议" * 2500, address="全区")
    await _file(client, draft)

    sent = fake.filings()[0].field("description") or ""
    assert len(sent) == DESCRIPTION_LIMIT
    assert sent.endswith("…")
    assert sent[:-1] == draft.description[: DESCRIPTION_LIMIT - 1]


async def test_a_request_without_any_place_is_left_to_the_server(
    client: Open311Client, fake: FakeOpen311
) -> None:
    # Servers differ (the built-in one takes inquiries and emergencies without
    # a place); a plain server that needs one refuses, and says why.
    draft = TicketDraft(request_type="seek_help", description="帮帮忙", address="  ")
    with pytest.raises(BackendRejected) as caught:
        await client.file(draft, idempotency_key="k", account_id="mh-1")

    assert caught.value.status_code == 400
    assert "location is required" in str(caught.value)
    [filing] = fake.filings()
    assert filing.field("address_string") is None and filing.field("lat") is None


async def test_a_category_without_its_own_service_goes_to_other(
    client: Open311Client, fake: FakeOpen311
) -> None:
    await _file(client, TicketDraft(request_type="consult", category="商贸旅游", address="x"))

    assert fake.filings()[0].field("service_code") == "099"


async def test_without_an_other_service_the_first_one_is_used(ticks: Ticks) -> None:
    fake = FakeOpen311(services=(
        {"service_code": "A1", "service_name": "路灯", "metadata": False, "type": "realtime"},
        {"service_code": "B2", "service_name": "绿化", "metadata": False, "type": "realtime"},
    ))
    async with fake.client() as http:
        client = Open311Client(http, base_url=BASE_URL, api_key=API_KEY, monotonic=ticks)
        await _file(client)

    assert fake.filings()[0].field("service_code") == "A1"


async def test_the_service_map_wins_and_needs_no_discovery(fake: FakeOpen311) -> None:
    async with fake.client() as http:
        client = Open311Client(http, base_url=BASE_URL, api_key=API_KEY,
                               service_map={"城乡建设": "002"})
        ticket_id = await _file(client)
        ticket = await client.get(ticket_id)

    paths = [r.path for r in fake.received]
    assert paths == ["/v2/requests.json", f"/v2/requests/{ticket_id}.json"]
    assert fake.filings()[0].field("service_code") == "002"
    # Read back through the map: the bot's category, not the server's name.
    assert ticket.draft.category == "城乡建设"


async def test_the_service_list_is_cached_for_ten_minutes(
    client: Open311Client, fake: FakeOpen311, ticks: Ticks
) -> None:
    def discoveries() -> int:
        return sum(1 for r in fake.received if r.path == "/v2/services.json")

    await _file(client, key="a")
    await _file(client, key="b")
    assert discoveries() == 1

    ticks.value += SERVICES_TTL_SECONDS - 1
    await _file(client, key="c")
    assert discoveries() == 1

    ticks.value += 2
    await _file(client, key="d")
    assert discoveries() == 2


async def test_an_unknown_service_code_makes_the_next_filing_look_the_list_up_again(
    client: Open311Client, fake: FakeOpen311
) -> None:
    await _file(client, key="a")
    fake.services = [s for s in fake.services if s["service_code"] != "001"]

    with pytest.raises(BackendRejected) as caught:
        await _file(client, key="b")
    assert caught.value.status_code == 404

    await _file(client, key="c")
    assert sum(1 for r in fake.received if r.path == "/v2/services.json") == 2
    assert fake.filings()[-1].field("service_code") == "099"


async def test_the_jurisdiction_goes_with_every_call(ticks: Ticks) -> None:
    fake = FakeOpen311(jurisdiction_id="shifan.gov.cn")
    async with fake.client() as http:
        client = Open311Client(http, base_url=BASE_URL, api_key=API_KEY,
                               jurisdiction_id="shifan.gov.cn", monotonic=ticks)
        ticket_id = await _file(client)
        await client.get(ticket_id)
        await client.get_many([ticket_id])
        assert await client.resolve_token(fake.requests[ticket_id].token) == ticket_id

    for received in fake.received:
        sent = received.field("jurisdiction_id") or received.param("jurisdiction_id")
        assert sent == "shifan.gov.cn", received.path


# ---------------------------------------------------------------- tokens


async def test_a_token_answer_is_resolved_once_the_server_has_the_id(
    client: Open311Client, fake: FakeOpen311
) -> None:
    fake.answer_with_token = True
    fake.tokens_pending = True
    receipt = await client.file(DRAFT, idempotency_key="k", account_id="mh-1")

    assert receipt.ticket_id is None
    assert receipt.token == "tok-1001"
    assert await client.resolve_token("tok-1001") is None

    fake.tokens_pending = False
    assert await client.resolve_token("tok-1001") == "1001"


async def test_an_unknown_token_is_not_found(client: Open311Client) -> None:
    with pytest.raises(TicketNotFound):
        await client.resolve_token("tok-nothing")


# ---------------------------------------------------------------- lookups


async def test_a_fresh_request_reads_back_as_accepted(client: Open311Client) -> None:
    ticket_id = await _file(client)
    ticket = await client.get(ticket_id)

    assert ticket.ticket_id == ticket_id
    assert ticket.status is TicketStatus.ACCEPTED
    assert ticket.draft.description == DRAFT.description
    assert ticket.draft.category == "城乡建设"
    assert ticket.draft.address == "和平路12号"
    assert ticket.draft.location == Location(latitude=31.2304, longitude=121.4737)
    assert ticket.draft.photos == ("https://img.example/a.jpg",)
    # A plain server cannot say which request type it was.
    assert ticket.draft.request_type == ""
    assert ticket.created_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert ticket.history == ()
    assert ticket.department is None and ticket.status_note is None


async def test_open_and_touched_reads_as_in_progress_and_closed_as_finished(
    client: Open311Client, fake: FakeOpen311
) -> None:
    ticket_id = await _file(client)
    due = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    fake.update(ticket_id, agency_responsible="示范区城管委", expected=due)

    working = await client.get(ticket_id)
    assert working.status is TicketStatus.IN_PROGRESS
    assert working.department == "示范区城管委"
    assert working.due_at == due

    stored = fake.update(
        ticket_id, status="closed", status_notes="路灯已修复", after=timedelta(days=1)
    )
    done = await client.get(ticket_id)
    assert done.status is TicketStatus.FINISHED
    assert done.status_note == "路灯已修复"
    assert done.updated_at == stored.updated


async def test_an_update_without_an_agency_still_reads_as_in_progress(
    client: Open311Client, fake: FakeOpen311
) -> None:
    ticket_id = await _file(client)
    fake.update(ticket_id, status_notes="已联系维修单位")

    assert (await client.get(ticket_id)).status is TicketStatus.IN_PROGRESS


async def test_an_unknown_ticket_is_not_found(client: Open311Client) -> None:
    with pytest.raises(TicketNotFound) as caught:
        await client.get("424242")
    assert caught.value.status_code == 404


async def test_get_many_asks_in_chunks_and_leaves_unknown_ids_out(
    client: Open311Client, fake: FakeOpen311
) -> None:
    filed = [await _file(client, key=f"k{i}") for i in range(3)]
    fake.received.clear()
    asked = [*filed, *(f"9{i:04d}" for i in range(2 * GET_MANY_CHUNK + 10)), filed[0]]

    tickets = await client.get_many(asked)

    assert sorted(t.ticket_id for t in tickets) == sorted(filed)
    chunks = [r.param("service_request_id") or "" for r in fake.received]
    assert len(chunks) == 3
    assert all(len(chunk.split(",")) <= GET_MANY_CHUNK for chunk in chunks)
    assert await client.get_many([]) == []


async def test_get_many_skips_a_record_it_cannot_read() -> None:
    records = [
        {"service_request_id": "1", "status": "open", "service_code": "x",
         "requested_datetime": "2026-11-23T09:00:00+08:00"},
        {"service_request_id": "2", "status": "open", "service_code": "x"},
        {"service_request_id": "3", "status": "weird", "service_code": "x",
         "requested_datetime": "2026-11-23T09:00:00Z"},
    ]
    async with _canned(lambda request: httpx.Response(200, json=records)) as http:
        client = Open311Client(http, base_url=BASE_URL, api_key=API_KEY)
        tickets = await client.get_many(["1", "2", "3"])

    assert [t.ticket_id for t in tickets] == ["1"]
    assert tickets[0].created_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_plain_open311_has_no_supplement_withdrawal_or_rating(
    client: Open311Client,
) -> None:
    assert client.name == "open311"
    assert client.capabilities == frozenset()
    with pytest.raises(UnsupportedByBackend):
        await client.supplement("1001", text="补充", photos=(), idempotency_key="k")
    with pytest.raises(UnsupportedByBackend):
        await client.withdraw("1001", reason="不需要了", idempotency_key="k")
    with pytest.raises(UnsupportedByBackend):
        await client.rate("1001", score=5, comment=None, idempotency_key="k")


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("how", "cause"),
    [
        ("connect", httpx.ConnectError),
        ("timeout", httpx.ReadTimeout),
        ("500", None),
        ("429", None),
        ("garbage", ValueError),
    ],
)
async def test_outages_are_backend_unavailable(
    client: Open311Client, fake: FakeOpen311, how: Any, cause: type[BaseException] | None
) -> None:
    ticket_id = await _file(client)
    fake.fail_next(1, how)

    with pytest.raises(BackendUnavailable) as caught:
        await client.get(ticket_id)

    if cause is not None:
        assert isinstance(caught.value.__cause__, cause)
    # Nothing sticks: the next call works.
    assert (await client.get(ticket_id)).ticket_id == ticket_id


async def test_a_wrong_api_key_is_rejected_with_the_servers_reason(fake: FakeOpen311) -> None:
    async with fake.client() as http:
        client = Open311Client(http, base_url=BASE_URL, api_key="not-the-key")
        with pytest.raises(BackendRejected) as caught:
            await client.file(DRAFT, idempotency_key="k", account_id="mh-1")

    assert caught.value.status_code == 403
    assert not isinstance(caught.value, TicketNotFound)
    assert "api_key is not valid" in str(caught.value)


async def test_a_lost_answer_is_an_outage_and_a_plain_server_files_twice_on_retry(
    client: Open311Client, fake: FakeOpen311
) -> None:
    fake.lose_answers(1)
    with pytest.raises(BackendUnavailable):
        await client.file(DRAFT, idempotency_key="same", account_id="mh-1")
    assert len(fake.requests) == 1

    await client.file(DRAFT, idempotency_key="same", account_id="mh-1")
    # A standard server does not honour Idempotency-Key: the retry duplicates.
    assert len(fake.requests) == 2


async def test_logs_mask_phone_numbers_in_the_servers_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=[{"code": 400, "description": "电话13812345678格式不对"}])

    caplog.set_level(logging.DEBUG, logger="minhu.ticketing")
    async with _canned(refuse) as http:
        client = Open311Client(http, base_url=BASE_URL, api_key=API_KEY,
                               service_map={"城乡建设": "001"})
        with pytest.raises(BackendRejected) as caught:
            await client.file(DRAFT, idempotency_key="k", account_id="mh-abcdef123456")

    assert caught.value.status_code == 400
    assert "格式不对" in str(caught.value)
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "格式不对" in logged
    assert "13812345678" not in logged
    assert "mh-abcdef123456" not in logged


# ---------------------------------------------------------------- built-in extensions


def _builtin_record(ticket_id: str = "MH202611230007", **extended: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "status": "已办结",
        "request_type": "suggest",
        "category": "城乡建设",
        "department_code": "cgw",
        "due_datetime": "2026-12-08T09:00:00+08:00",
        "urgent": False,
        "anonymous": True,
        "rating": None,
        "adopted": True,
        "history": [
            {"kind": "status", "status": "已派单", "previous": "受理", "note": None,
             "department": "示范区城管委", "at": "2026-11-23T10:00:00+08:00",
             "adopted": None, "score": None, "media_urls": []},
            {"kind": "supplement", "status": None, "previous": None, "note": "补充照片",
             "department": None, "at": "2026-11-23T11:00:00+08:00", "adopted": None,
             "score": None, "media_urls": ["https://img.example/c.jpg"]},
            {"kind": "status", "status": "已办结", "previous": "已派单", "note": "建议已采纳",
             "department": "示范区城管委", "at": "2026-11-25T16:30:00+08:00",
             "adopted": True, "score": None, "media_urls": []},
        ],
    }
    attributes.update(extended)
    return {
        "service_request_id": ticket_id,
        "status": "closed",
        "status_notes": "建议已采纳",
        "service_name": "城乡建设",
        "service_code": "urban_construction",
        "description": "建议在和平路增设路灯",
        "agency_responsible": "示范区城管委",
        "service_notice": None,
        "requested_datetime": "2026-11-23T09:00:00+08:00",
        "updated_datetime": "2026-11-25T16:30:00+08:00",
        "expected_datetime": "2026-12-08T09:00:00+08:00",
        "address": "和平路",
        "lat": None,
        "long": None,
        "media_url": None,
        "extended_attributes": attributes,
    }


def _canned(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_the_builtin_client_reads_rich_status_and_history() -> None:
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[_builtin_record()])

    async with _canned(serve) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY)
        ticket = await client.get("MH202611230007")

    assert client.name == "builtin"
    assert client.capabilities == BACKEND_CAPABILITIES
    assert seen[0].url.params["extensions"] == "true"
    assert ticket.status is TicketStatus.FINISHED
    assert ticket.adopted is True
    assert ticket.rating is None
    assert ticket.department == "示范区城管委"
    assert ticket.draft.request_type == "suggest"
    assert ticket.draft.anonymous is True
    assert ticket.due_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    assert [(c.status, c.previous, c.note) for c in ticket.history] == [
        (TicketStatus.DISPATCHED, TicketStatus.ACCEPTED, None),
        (TicketStatus.FINISHED, TicketStatus.DISPATCHED, "建议已采纳"),
    ]
    assert ticket.history[1].adopted is True
    assert all(c.ticket_id == "MH202611230007" for c in ticket.history)


async def test_the_builtin_client_falls_back_to_the_plain_status_when_unreadable() -> None:
    record = _builtin_record(status="半路上", history="not a list")
    async with _canned(lambda request: httpx.Response(200, json=[record])) as http:
        ticket = await BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY).get("x")

    assert ticket.status is TicketStatus.FINISHED
    assert ticket.history == ()


async def test_builtin_filing_looks_up_the_department_and_deadline() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json=[{"service_request_id": "MH202611230007",
                                              "service_notice": "已受理", "account_id": "mh-1"}])
        return httpx.Response(200, json=[_builtin_record(status="受理", history=[])])

    async with _canned(serve) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY,
                               service_map={"城乡建设": "urban_construction"})
        receipt = await client.file(DRAFT, idempotency_key="k", account_id="mh-1")

    assert receipt.ticket_id == "MH202611230007"
    assert receipt.department == "示范区城管委"
    assert receipt.due_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    assert receipt.notice == "已受理"


async def test_builtin_filing_is_filed_even_when_the_lookup_fails() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json=[{"service_request_id": "MH202611230007"}])
        raise httpx.ConnectError("down", request=request)

    async with _canned(serve) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY,
                               service_map={"城乡建设": "urban_construction"})
        receipt = await client.file(DRAFT, idempotency_key="k", account_id="mh-1")

    assert receipt.ticket_id == "MH202611230007"
    assert receipt.department is None


async def test_builtin_actions_post_their_fields_and_return_the_ticket() -> None:
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[_builtin_record(rating=2, status="重办")])

    async with _canned(serve) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY)
        supplemented = await client.supplement(
            "MH202611230007", text="又坏了一盏", photos=("https://img.example/d.jpg", "mediaid"),
            idempotency_key="s-1",
        )
        await client.withdraw("MH202611230007", reason="群众主动撤回", idempotency_key="w-1")
        rated = await client.rate("MH202611230007", score=2, comment="没修好",
                                  idempotency_key="r-1")

    assert supplemented.ticket_id == "MH202611230007"
    assert rated.status is TicketStatus.REOPENED and rated.rating == 2
    paths = [r.url.path for r in seen]
    assert paths == [
        "/v2/requests/MH202611230007/supplements.json",
        "/v2/requests/MH202611230007/withdraw.json",
        "/v2/requests/MH202611230007/rating.json",
    ]
    forms = [dict(_form(r)) for r in seen]
    assert [r.headers["Idempotency-Key"] for r in seen] == ["s-1", "w-1", "r-1"]
    assert all(f["api_key"] == API_KEY for f in forms)
    assert forms[0]["description"] == "又坏了一盏"
    assert [v for k, v in _form(seen[0]) if k == "media_url"] == ["https://img.example/d.jpg"]
    assert forms[1]["reason"] == "群众主动撤回"
    assert forms[2]["score"] == "2" and forms[2]["comment"] == "没修好"


async def test_a_conflict_from_the_builtin_service_is_a_rejection_with_its_reason() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        reason = "该工单已评价，每件诉求只能评价一次"
        return httpx.Response(409, json=[{"code": 409, "description": reason}])

    async with _canned(refuse) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY)
        with pytest.raises(BackendRejected) as caught:
            await client.rate("MH202611230007", score=5, comment=None, idempotency_key="r")

    assert caught.value.status_code == 409
    assert not isinstance(caught.value, TicketNotFound)
    assert "已评价" in str(caught.value)


async def test_a_builtin_action_on_an_unknown_ticket_is_not_found() -> None:
    def unknown(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json=[{"code": 404, "description": "工单不存在"}])

    async with _canned(unknown) as http:
        client = BuiltinClient(http, base_url=BASE_URL, api_key=API_KEY)
        with pytest.raises(TicketNotFound):
            await client.withdraw("MH209901010001", reason="x", idempotency_key="w")


def _form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
