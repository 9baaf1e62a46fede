"""The Open311 router over HTTP (httpx.ASGITransport): standard responses valid
against the GeoReport v2 schemas, the extensions, Open311 errors for every
bad request (never a 500), and no personal data in what anyone may GET."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.errors import StorageError
from bot.types import TicketStatus
from integrations.ticketing.builtin.api import build_open311_router
from integrations.ticketing.builtin.service import WorkOrderService

from .support import API_KEY, FakeClock, assert_valid

S = TicketStatus
BASE = "/open311/v2"
PHONE = "13812345678"
ACCOUNT = "mh-7f3a9c0d1e2b4a5c6d7e8f90"

FORM: dict[str, Any] = {
    "api_key": API_KEY,
    "service_code": "urban_construction",
    "lat": "39.91",
    "long": "116.40",
    "address_string": "示范区和平路12号",
    "description": "和平路12号门口的路灯坏了一个星期，晚上很黑",
    "phone": PHONE,
    "account_id": ACCOUNT,
    "first_name": "小明",
    "last_name": "王",
    "email": "wang.xiaoming@example.test",
    "device_id": "device-889900",
    "media_url": ["https://img.example.test/1.jpg", "https://img.example.test/2.jpg"],
    "attribute[request_type]": "complain",
    "attribute[category]": "城乡建设",
    "attribute[occurred_at]": "上周三晚上",
    "attribute[anonymous]": "false",
    "attribute[urgent]": "false",
    "attribute[district]": "示范区",
}


@pytest.fixture
async def client(service: WorkOrderService) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(build_open311_router(service, api_key=API_KEY), prefix=BASE)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://minhu.test"
    ) as http:
        yield http


async def _file(client: httpx.AsyncClient, **changes: Any) -> str:
    form = {**FORM, **changes}
    response = await client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 200, response.text
    ticket_id: str = response.json()[0]["service_request_id"]
    return ticket_id


def _assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == status
    description: str = body[0]["description"]
    assert re.search(r"[\u4e00-\u9fff]", description), description  # said in Chinese
    return description


# -- services -------------------------------------------------------------------------


async def test_the_service_list_and_definitions_follow_the_schemas(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()
    assert_valid(services, "services.json")
    assert len(services) == 16
    by_name = {s["service_name"]: s for s in services}
    assert by_name["其他"]["service_code"] == "other"
    assert by_name["城乡建设"]["type"] == "realtime" and by_name["城乡建设"]["metadata"] is True
    for service in services:
        definition = (await client.get(f"{BASE}/services/{service['service_code']}.json")).json()
        assert_valid(definition, "service-definition.json")
        assert definition["service_code"] == service["service_code"]
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert {"request_type", "occurred_at", "anonymous", "urgent", "district", "street"} <= set(
        attributes
    )
    assert {v["key"]: v["name"] for v in attributes["request_type"]["values"]} == {
        "consult": "咨询", "seek_help": "求助", "complain": "投诉",
        "report": "举报", "suggest": "建议", "praise": "表扬",
    }
    assert [v["key"] for v in attributes["urgent"]["values"]] == ["true", "false"]
    assert attributes["occurred_at"]["datatype"] == "string"


async def test_an_unknown_service_definition_is_an_open311_404(
    client: httpx.AsyncClient,
) -> None:
    _assert_error(await client.get(f"{BASE}/services/potholes.json"), 404)


# -- filing ---------------------------------------------------------------------------


async def test_a_request_is_filed_and_answered_with_its_id_and_notice(
    client: httpx.AsyncClient, service: WorkOrderService, clock: FakeClock
) -> None:
    response = await client.post(f"{BASE}/requests.json", data=FORM)
    assert response.status_code == 200, response.text
    [receipt] = response.json()
    assert set(receipt) == {"service_request_id", "service_notice", "account_id"}
    assert receipt["service_request_id"] == "MH202611230001"
    assert receipt["account_id"] == ACCOUNT
    assert "示范区住房和城乡建设局" in receipt["service_notice"]
    assert "11月30日 16:30" in receipt["service_notice"]  # 7 days, Shanghai time
    order = await service.get("MH202611230001")
    assert order is not None
    assert (order.request_type, order.category, order.occurred_at) == (
        "complain", "城乡建设", "上周三晚上"
    )
    assert (order.lat, order.long, order.address, order.district) == (
        39.91, 116.40, "示范区和平路12号", "示范区"
    )
    assert order.media_urls == ("https://img.example.test/1.jpg", "https://img.example.test/2.jpg")
    assert (order.phone, order.account_id, order.anonymous, order.urgent) == (
        PHONE, ACCOUNT, False, False
    )


async def test_the_same_idempotency_key_answers_the_same_ticket(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    headers = {"Idempotency-Key": "sub-0b1c2d3e"}
    first = await client.post(f"{BASE}/requests.json", data=FORM, headers=headers)
    second = await client.post(f"{BASE}/requests.json", data=FORM, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(await service.search()) == 1


async def test_multipart_forms_and_an_address_alone_are_accepted(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    fields = {k: v for k, v in FORM.items() if k not in ("lat", "long", "media_url")}
    fields["attribute[urgent]"] = "true"
    response = await client.post(
        f"{BASE}/requests.json", data=fields, files={"unused": (None, "")}
    )
    assert response.status_code == 200, response.text
    order = await service.get(response.json()[0]["service_request_id"])
    assert order is not None and order.urgent and order.lat is None


async def test_the_api_key_is_required_to_file(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    missing = {k: v for k, v in FORM.items() if k != "api_key"}
    _assert_error(await client.post(f"{BASE}/requests.json", data=missing), 403)
    wrong = {**FORM, "api_key": API_KEY + "x"}
    _assert_error(await client.post(f"{BASE}/requests.json", data=wrong), 403)
    assert await service.search() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"lat": "north"},
        {"lat": "nan", "long": "116.4"},
        {"lat": "95", "long": "116.4"},
        {"long": None},
        {"lat": None, "long": None, "address_string": None},
        {"description": None},
        {"description": "长" * 4001},
        {"service_code": None},
        {"service_code": "potholes"},
        {"attribute[request_type]": "gossip"},
        {"attribute[urgent]": "maybe"},
        {"attribute[anonymous]": "2"},
        {"phone": "1" * 60},
        {"media_url": ["https://img.test/a b.jpg"]},
    ],
)
async def test_bad_filings_are_open311_400s(
    client: httpx.AsyncClient, service: WorkOrderService, changes: dict[str, Any]
) -> None:
    form = {k: v for k, v in {**FORM, **changes}.items() if v is not None}
    _assert_error(await client.post(f"{BASE}/requests.json", data=form), 400)
    assert await service.search() == []


async def test_malformed_requests_are_open311_errors_not_500s(
    client: httpx.AsyncClient,
) -> None:
    url = f"{BASE}/requests.json"
    _assert_error(await client.post(f"{BASE}/requests.xml", data=FORM), 400)
    _assert_error(await client.post(url, json={"api_key": API_KEY}), 400)
    _assert_error(await client.post(url, content=b"\xff\xfe", headers={
        "content-type": "multipart/form-data; boundary=x"}), 400)
    _assert_error(await client.post(url, data=FORM, files={"photo": ("a.jpg", b"jpeg")}), 400)
    _assert_error(await client.post(url, data=FORM, headers={"Idempotency-Key": "k" * 129}), 400)
    _assert_error(await client.post(url, content=b"x" * 300_000, headers={
        "content-type": "application/x-www-form-urlencoded"}), 413)
    _assert_error(await client.get(f"{BASE}/nothing/here.json"), 404)
    _assert_error(await client.delete(url), 405)
    _assert_error(await client.get(f"{BASE}/services.xml"), 400)


# -- looking requests up ---------------------------------------------------------------


async def test_a_request_and_its_token_are_looked_up(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client)
    response = await client.get(f"{BASE}/requests/{ticket_id}.json")
    assert response.status_code == 200
    body = response.json()
    assert_valid(body, "requests.json")
    [request] = body
    assert request["service_request_id"] == ticket_id
    assert request["status"] == "open"
    assert request["service_code"] == "urban_construction"
    assert request["service_name"] == "城乡建设"
    assert request["agency_responsible"] == "示范区住房和城乡建设局"
    assert request["requested_datetime"] == "2026-11-23T16:30:00+08:00"
    assert request["expected_datetime"] == "2026-11-30T16:30:00+08:00"
    assert request["media_url"] == "https://img.example.test/1.jpg"
    assert (request["lat"], request["long"]) == (39.91, 116.40)
    assert "extended_attributes" not in request
    order = await service.get(ticket_id)
    assert order is not None
    token = (await client.get(f"{BASE}/tokens/{order.token}.json")).json()
    assert token == [{"service_request_id": ticket_id, "token": order.token}]
    _assert_error(await client.get(f"{BASE}/tokens/unknown-token.json"), 404)
    _assert_error(await client.get(f"{BASE}/requests/MH209901010001.json"), 404)


async def test_extensions_add_the_rich_status_and_timeline(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client, **{"attribute[request_type]": "suggest"})
    await service.transition(ticket_id, S.DISPATCHED, actor="派单员", note="请研究")
    await service.transition(ticket_id, S.IN_PROGRESS, actor="部门")
    await service.transition(
        ticket_id, S.FINISHED, actor="部门", note="已采纳，年内实施", adopted=True
    )
    response = await client.get(f"{BASE}/requests/{ticket_id}.json?extensions=true")
    body = response.json()
    assert_valid(body, "requests.json")
    [request] = body
    assert request["status"] == "closed" and request["status_notes"] == "已采纳，年内实施"
    extended = request["extended_attributes"]
    assert set(extended) == {
        "status", "request_type", "category", "department_code", "due_datetime", "urgent",
        "anonymous", "rating", "adopted", "history",
    }
    assert (extended["status"], extended["request_type"], extended["adopted"]) == (
        "已办结", "suggest", True
    )
    assert extended["due_datetime"].startswith("2026-12-08T16:30:00")
    history = extended["history"]
    assert [(h["kind"], h["status"], h["previous"]) for h in history] == [
        ("status", "受理", None), ("status", "已派单", "受理"), ("status", "办理中", "已派单"),
        ("status", "已办结", "办理中"),
    ]
    assert set(history[0]) == {
        "kind", "status", "previous", "note", "department", "at", "adopted", "score",
        "media_urls",
    }
    assert history[0]["media_urls"] == [
        "https://img.example.test/1.jpg", "https://img.example.test/2.jpg"
    ]
    assert history[3]["adopted"] is True and history[1]["department"] == "示范区住房和城乡建设局"


async def test_searching_defaults_to_the_last_90_days_and_filters(
    client: httpx.AsyncClient, service: WorkOrderService, clock: FakeClock
) -> None:
    old = await _file(client)
    clock.advance(days=100)
    lamp = await _file(client)
    dirty = await _file(client, service_code="environment", **{"attribute[category]": "环境保护"})
    await service.transition(dirty, S.FINISHED, actor="部门", note="已清理")

    async def ids(query: str) -> list[str]:
        response = await client.get(f"{BASE}/requests.json{query}")
        assert response.status_code == 200, response.text
        assert_valid(response.json(), "requests.json")
        return [r["service_request_id"] for r in response.json()]

    assert await ids("") == [dirty, lamp]
    assert await ids("?status=open") == [lamp]
    assert await ids("?status=closed&extensions=true") == [dirty]
    assert await ids("?service_code=environment,urban_construction") == [dirty, lamp]
    assert await ids(f"?service_request_id={old},{lamp},MH000000000000") == [lamp, old]
    since = (clock.now - timedelta(days=101)).isoformat()
    until = (clock.now - timedelta(days=99)).isoformat()
    assert await ids(f"?start_date={since}&end_date={until}".replace("+", "%2B")) == [old]
    # An offset whose "+" was not encoded arrives as a space; still understood.
    assert await ids("?start_date=2026-11-23T00:00:00+08:00&end_date=2026-11-24T00:00:00Z") == [
        old
    ]


@pytest.mark.parametrize(
    "query",
    [
        "start_date=yesterday",
        "start_date=2026-11-01T00:00:00",
        "start_date=2026-11-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
        "status=pending",
        "service_code=potholes",
        "extensions=maybe",
        "service_request_id=" + "X" * 40,
    ],
)
async def test_bad_searches_are_open311_400s(client: httpx.AsyncClient, query: str) -> None:
    _assert_error(await client.get(f"{BASE}/requests.json?{query}"), 400)


async def test_nothing_personal_is_shown_to_whoever_looks_requests_up(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client, description=f"路灯坏了，有事请打我电话{PHONE}")
    await service.supplement(ticket_id, text="我的另一个号码 13998765432", media_urls=[],
                             actor="市民", idempotency_key=None)
    pages = [
        await client.get(f"{BASE}/requests/{ticket_id}.json"),
        await client.get(f"{BASE}/requests/{ticket_id}.json?extensions=true"),
        await client.get(f"{BASE}/requests.json?extensions=true"),
        await client.get(f"{BASE}/requests.json?service_request_id={ticket_id}"),
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.text
        for secret in (PHONE, "13998765432", ACCOUNT, "小明", "wang.xiaoming", "device-889900"):
            assert secret not in text, (secret, page.url)
        assert "138****5678" in text  # the description is kept, with the number masked


# -- extensions: supplement, withdraw, rate --------------------------------------------


async def test_a_supplement_is_added_through_the_api(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client)
    form = {"api_key": API_KEY, "description": "晚上十点后完全不亮",
            "media_url": ["https://img.test/3.jpg"]}
    url = f"{BASE}/requests/{ticket_id}/supplements.json"
    headers = {"Idempotency-Key": "sup-1"}
    first = await client.post(url, data=form, headers=headers)
    again = await client.post(url, data=form, headers=headers)
    assert first.status_code == again.status_code == 200
    assert_valid(first.json(), "requests.json")
    history = again.json()[0]["extended_attributes"]["history"]
    supplements = [h for h in history if h["kind"] == "supplement"]
    assert [(h["note"], h["media_urls"]) for h in supplements] == [
        ("晚上十点后完全不亮", ["https://img.test/3.jpg"])
    ]
    _assert_error(await client.post(url, data={"api_key": "wrong", "description": "x"}), 403)
    _assert_error(await client.post(url, data={"api_key": API_KEY}), 400)
    _assert_error(
        await client.post(f"{BASE}/requests/MH209901010001/supplements.json",
                          data={"api_key": API_KEY, "description": "x"}),
        404,
    )


async def test_a_request_is_withdrawn_through_the_api(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client)
    url = f"{BASE}/requests/{ticket_id}/withdraw.json"
    response = await client.post(url, data={"api_key": API_KEY, "reason": "已自行解决"})
    assert response.status_code == 200
    [request] = response.json()
    assert_valid(response.json(), "requests.json")
    assert request["status"] == "closed"
    assert request["extended_attributes"]["status"] == "已撤回"
    description = _assert_error(await client.post(url, data={"api_key": API_KEY}), 409)
    assert "已撤回" in description


async def test_a_rating_through_the_api_is_taken_once(
    client: httpx.AsyncClient, service: WorkOrderService
) -> None:
    ticket_id = await _file(client)
    url = f"{BASE}/requests/{ticket_id}/rating.json"
    _assert_error(await client.post(url, data={"api_key": API_KEY, "score": "5"}), 409)
    await service.transition(ticket_id, S.FINISHED, actor="部门", note="已修复")
    for bad in ("0", "6", "five", "4.5", ""):
        _assert_error(await client.post(url, data={"api_key": API_KEY, "score": bad}), 400)
    response = await client.post(url, data={"api_key": API_KEY, "score": "2", "comment": "没修好"})
    assert response.status_code == 200
    extended = response.json()[0]["extended_attributes"]
    assert (extended["rating"], extended["status"]) == (2, "重办")
    description = _assert_error(
        await client.post(url, data={"api_key": API_KEY, "score": "5"}), 409
    )
    assert "评价" in description


async def test_a_database_outage_is_a_503_open311_error(
    client: httpx.AsyncClient, service: WorkOrderService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("database error during get work order: OperationalError")

    monkeypatch.setattr(service, "get", down)
    _assert_error(await client.get(f"{BASE}/requests/MH202611230001.json"), 503)


def test_responses_are_plain_utf8_json() -> None:
    # The error body is UTF-8 JSON with Chinese text as is (no \\u escapes).
    from integrations.ticketing.builtin.api import Open311JSONResponse

    rendered = bytes(Open311JSONResponse([{"code": 400, "description": "请求无效"}]).body)
    assert "请求无效".encode() in rendered
    assert json.loads(rendered) == [{"code": 400, "description": "请求无效"}]


@pytest.mark.parametrize(
    "changes",
    [
        {"attribute[request_type]": "consult"},
        {"attribute[request_type]": "suggest"},
        {"attribute[request_type]": "praise"},
        {"attribute[request_type]": "seek_help", "attribute[urgent]": "true"},
    ],
)
async def test_inquiries_suggestions_praise_and_emergencies_need_no_place(
    client: httpx.AsyncClient, service: WorkOrderService, changes: dict[str, Any]
) -> None:
    form = {k: v for k, v in {**FORM, "lat": None, "long": None, "address_string": None,
                              **changes}.items() if v is not None}
    response = await client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 200, response.text
    [order] = await service.search()
    assert order.address is None and order.lat is None
    assert order.department_code is not None  # routed to the district's default
