"""The Open311 GeoReport v2 router of the built-in work-order service (JSON only).

Mounted by the composition root under ``/open311/v2``. Standard endpoints:
``services``, ``services/{code}``, ``POST requests``, ``tokens/{token}``,
``requests`` and ``requests/{id}``; minhu's extensions: ``?extensions=true``
on the GETs (``extended_attributes`` with the rich status and timeline) and
``POST requests/{id}/supplements``, ``/withdraw`` and ``/rating``.

Parameters are read from the query or the form by hand rather than declared
to FastAPI, and every failure inside a route is answered as an Open311 error
(``[{"code": <status>, "description": "<中文说明>"}]``): 400 for bad input,
403 for a wrong or missing ``api_key``, 404 for an unknown resource, 409 for
a change the ticket's state forbids, 503 when the database is down. Nothing
a client sends can make it answer 500.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from bot.errors import BackendRejected, StorageError
from bot.types import TicketStatus
from integrations.storage.codec import as_utc

from .formats import (
    error_body,
    filing_receipt,
    request_json,
    service_definition,
    service_json,
)
from .records import (
    CLOSED_STATUSES,
    AlreadyRated,
    FilingRequest,
    InvalidTransition,
    WorkOrder,
    WorkOrderNotFound,
)
from .service import ACTOR_RESIDENT, MAX_DESCRIPTION_CHARS, WorkOrderService

__all__ = ["MAX_RESULTS", "Open311Error", "Open311JSONResponse", "build_open311_router"]

# GeoReport v2: a search spans at most 90 days and defaults to the last 90.
SEARCH_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
MAX_BODY_BYTES = 256 * 1024
_FORM_LIMITS: dict[str, int] = {"max_files": 0, "max_fields": 200, "max_part_size": 64 * 1024}
_IDEMPOTENCY_HEADER = "Idempotency-Key"
_MAX_ID_CHARS = 32
_OPEN_STATUSES = frozenset(TicketStatus) - CLOSED_STATUSES
_TRUE = {"true", "1", "yes", "是"}
_FALSE = {"false", "0", "no", "否"}
# "+08:00" sent unencoded in a query string arrives as " 08:00".
_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


class Open311JSONResponse(JSONResponse):
    media_type = "application/json; charset=utf-8"


class Open311Error(Exception):
    """Answered as an Open311 error with HTTP status ``status``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str) -> Response:
    return Open311JSONResponse(error_body(status, description), status_code=status)


class _Open311Route(APIRoute):
    """Answers whatever goes wrong inside a route as an Open311 error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return _error(exc.status, exc.description)
            except WorkOrderNotFound as exc:
                return _error(404, str(exc))
            except (InvalidTransition, AlreadyRated) as exc:
                return _error(409, str(exc))
            except BackendRejected as exc:
                code = exc.status_code
                return _error(code if code and 400 <= code < 500 else 400, str(exc))
            except StorageError:
                return _error(503, "服务暂时不可用，请稍后重试。")
            except HTTPException as exc:  # e.g. a malformed multipart body
                status = exc.status_code if 400 <= exc.status_code < 500 else 400
                return _error(status, f"请求无效：{exc.detail}")

        return guarded


def build_open311_router(service: WorkOrderService, *, api_key: str) -> APIRouter:
    """The router; include it with ``prefix="/open311/v2"``."""
    if not api_key:
        raise ValueError("the Open311 router needs an API key for POST requests")
    router = APIRouter(route_class=_Open311Route)
    catalogue = service.catalogue

    def check_key(form: FormData) -> None:
        given = _text(form, "api_key")
        if given is None:
            raise Open311Error(403, "缺少 api_key，无法提交。")
        if not secrets.compare_digest(given.encode("utf-8"), api_key.encode("utf-8")):
            raise Open311Error(403, "api_key 无效，无法提交。")

    async def with_history(orders: list[WorkOrder], extended: bool) -> list[dict[str, Any]]:
        if not extended:
            return [request_json(order) for order in orders]
        histories = await service.histories([order.ticket_id for order in orders])
        return [request_json(order, histories.get(order.ticket_id, [])) for order in orders]

    async def one_request(ticket_id: str, extended: bool = True) -> Response:
        order = await service.get(ticket_id)
        if order is None:
            raise WorkOrderNotFound(ticket_id)
        return Open311JSONResponse(await with_history([order], extended))

    @router.get("/services.{fmt}")
    async def list_services(fmt: str) -> Response:
        _json_only(fmt)
        return Open311JSONResponse([service_json(s) for s in catalogue.services])

    @router.get("/services/{service_code}.{fmt}")
    async def define_service(service_code: str, fmt: str) -> Response:
        _json_only(fmt)
        found = catalogue.service(service_code)
        if found is None:
            raise Open311Error(404, f"没有代码为 {service_code} 的服务。")
        return Open311JSONResponse(service_definition(found))

    @router.post("/requests.{fmt}")
    async def create_request(fmt: str, request: Request) -> Response:
        _json_only(fmt)
        form = await _form(request)
        check_key(form)
        order, _ = await service.file(
            _filing(form), idempotency_key=_idempotency_key(request)
        )
        return Open311JSONResponse(filing_receipt(order))

    @router.get("/tokens/{token}.{fmt}")
    async def resolve_token(token: str, fmt: str) -> Response:
        _json_only(fmt)
        order = await service.get_by_token(token)
        if order is None:
            raise Open311Error(404, "没有找到这个 token 对应的诉求。")
        return Open311JSONResponse([{"service_request_id": order.ticket_id, "token": token}])

    @router.get("/requests.{fmt}")
    async def list_requests(fmt: str, request: Request) -> Response:
        _json_only(fmt)
        query = request.query_params
        extended = _flag(query.get("extensions"), "extensions")
        ids = _csv(query.get("service_request_id"))
        if ids:
            if len(ids) > MAX_RESULTS or any(len(i) > _MAX_ID_CHARS for i in ids):
                raise Open311Error(400, "service_request_id 过多或格式不对。")
            orders = await service.search(ticket_ids=ids, limit=MAX_RESULTS)
        else:
            orders = await _search(service, query)
        return Open311JSONResponse(await with_history(orders, extended))

    @router.get("/requests/{service_request_id}.{fmt}")
    async def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
        _json_only(fmt)
        extended = _flag(request.query_params.get("extensions"), "extensions")
        return await one_request(service_request_id, extended)

    @router.post("/requests/{service_request_id}/supplements.{fmt}")
    async def supplement(service_request_id: str, fmt: str, request: Request) -> Response:
        _json_only(fmt)
        form = await _form(request)
        check_key(form)
        await service.supplement(
            service_request_id,
            text=_text(form, "description") or "",
            media_urls=_media(form),
            actor=ACTOR_RESIDENT,
            idempotency_key=_idempotency_key(request),
        )
        return await one_request(service_request_id)

    @router.post("/requests/{service_request_id}/withdraw.{fmt}")
    async def withdraw(service_request_id: str, fmt: str, request: Request) -> Response:
        _json_only(fmt)
        form = await _form(request)
        check_key(form)
        await service.withdraw(
            service_request_id,
            reason=_text(form, "reason"),
            actor=ACTOR_RESIDENT,
            idempotency_key=_idempotency_key(request),
        )
        return await one_request(service_request_id)

    @router.post("/requests/{service_request_id}/rating.{fmt}")
    async def rate(service_request_id: str, fmt: str, request: Request) -> Response:
        _json_only(fmt)
        form = await _form(request)
        check_key(form)
        raw = _text(form, "score")
        if raw is None or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 5:
            raise Open311Error(400, "score 应为 1 到 5 的整数（5 为非常满意）。")
        await service.rate(
            service_request_id,
            score=int(raw),
            comment=_text(form, "comment"),
            idempotency_key=_idempotency_key(request),
        )
        return await one_request(service_request_id)

    known_routes = list(router.routes)

    @router.api_route(
        "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        include_in_schema=False,
    )
    async def unknown(rest: str, request: Request) -> Response:
        path = "/" + rest
        for route in known_routes:
            if isinstance(route, APIRoute) and route.path_regex.match(path):
                return _error(405, f"该接口不支持 {request.method} 请求。")
        return _error(404, "没有这个接口。")

    return router


# -- reading the request --------------------------------------------------------------


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error(400, f"不支持 {fmt[:16]} 格式，请使用 .json。")


async def _form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Open311Error(
            400, "请以 application/x-www-form-urlencoded 或 multipart/form-data 提交表单。"
        )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise Open311Error(413 if length.isdigit() else 400, "请求内容过大。")
    return await request.form(**_FORM_LIMITS)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Open311Error(400, f"{name} 应为文字。")
    value = value.strip()
    return value or None


def _media(form: FormData) -> list[str]:
    items: list[str] = []
    for value in form.getlist("media_url"):
        if not isinstance(value, str):
            raise Open311Error(400, "media_url 应为图片地址，不接受文件上传。")
        if value.strip():
            items.append(value.strip())
    return items


def _number(form: FormData, name: str) -> float | None:
    raw = _text(form, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} 应为数字。") from None
    if not math.isfinite(value):
        raise Open311Error(400, f"{name} 应为数字。")
    return value


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or not raw.strip():
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Open311Error(400, f"{name} 应为 true 或 false。")


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(_IDEMPOTENCY_HEADER)
    if key is None or not key.strip():
        return None
    if len(key) > 128:
        raise Open311Error(400, f"{_IDEMPOTENCY_HEADER} 不能超过 128 个字符。")
    return key.strip()


# An inquiry, a suggestion or a thank-you is often about no place in particular
# (a policy, the district as a whole), and an emergency must never wait for an
# address: the standard's location requirement is relaxed for them, and
# routing falls back to the district's default.
PLACELESS_REQUEST_TYPES = frozenset({"consult", "suggest", "praise"})


def _filing(form: FormData) -> FilingRequest:
    service_code = _text(form, "service_code")
    if service_code is None:
        raise Open311Error(400, "缺少 service_code。")
    lat, long = _number(form, "lat"), _number(form, "long")
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat 和 long 须同时提供。")
    address = _text(form, "address_string")
    address_id = _text(form, "address_id")
    request_type = _text(form, "attribute[request_type]") or "seek_help"
    urgent = _flag(_text(form, "attribute[urgent]"), "attribute[urgent]")
    if (
        lat is None and address is None and address_id is None
        and request_type not in PLACELESS_REQUEST_TYPES and not urgent
    ):
        raise Open311Error(400, "缺少位置：请提供 lat 和 long，或 address_string，或 address_id。")
    description = _text(form, "description")
    if description is None:
        raise Open311Error(400, "缺少 description（诉求内容）。")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise Open311Error(400, f"description 不能超过 {MAX_DESCRIPTION_CHARS} 个字。")
    return FilingRequest(
        service_code=service_code,
        description=description,
        request_type=request_type,
        category=_text(form, "attribute[category]"),
        address=address,
        address_id=address_id,
        lat=lat,
        long=long,
        district=_text(form, "attribute[district]"),
        street=_text(form, "attribute[street]"),
        occurred_at=_text(form, "attribute[occurred_at]"),
        phone=_text(form, "phone"),
        account_id=_text(form, "account_id"),
        first_name=_text(form, "first_name"),
        last_name=_text(form, "last_name"),
        email=_text(form, "email"),
        device_id=_text(form, "device_id"),
        anonymous=_flag(_text(form, "attribute[anonymous]"), "attribute[anonymous]"),
        urgent=urgent,
        media_urls=tuple(_media(form)),
    )


def _csv(raw: str | None) -> list[str]:
    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def _datetime(raw: str | None, name: str) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    text = _SPACED_OFFSET.sub(r"+\1", raw.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} 应为带时区的 ISO 8601 时间，如 2026-11-23T00:00:00+08:00。"
        ) from None
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} 须带时区，如 +08:00 或 Z。")
    return value


def _statuses(raw: str | None) -> set[TicketStatus] | None:
    wanted = _csv(raw)
    if not wanted:
        return None
    statuses: set[TicketStatus] = set()
    for value in wanted:
        if value == "open":
            statuses |= _OPEN_STATUSES
        elif value == "closed":
            statuses |= CLOSED_STATUSES
        else:
            raise Open311Error(400, "status 应为 open 或 closed。")
    return statuses


async def _search(service: WorkOrderService, query: Any) -> list[WorkOrder]:
    codes = _csv(query.get("service_code"))
    for code in codes:
        if service.catalogue.service(code) is None:
            raise Open311Error(400, f"没有代码为 {code[:32]} 的服务。")
    statuses = _statuses(query.get("status"))
    start = _datetime(query.get("start_date"), "start_date")
    end = _datetime(query.get("end_date"), "end_date")
    if start is None and end is None:
        end = as_utc(service.clock())
    if start is None:
        assert end is not None
        start = end - SEARCH_SPAN
    if end is None:
        end = start + SEARCH_SPAN
    if start > end:
        raise Open311Error(400, "start_date 不能晚于 end_date。")
    if end - start > SEARCH_SPAN:
        raise Open311Error(400, "一次查询的时间范围不能超过 90 天。")
    found: list[WorkOrder] = []
    wanted: list[str | None] = list(codes) or [None]
    for service_code in wanted:
        found.extend(await service.search(
            service_code=service_code, statuses=statuses, start=start, end=end, limit=MAX_RESULTS
        ))
    return _ordered(found)[:MAX_RESULTS]


def _ordered(orders: Iterable[WorkOrder]) -> list[WorkOrder]:
    """Urgent first, then newest (as ``WorkOrderService.search`` orders them)."""
    return sorted(orders, key=lambda o: (not o.urgent, -o.requested_at.timestamp(), -o.id))
