"""Ticket backends reached over Open311 GeoReport v2 (domain.md §4).

:class:`Open311Client` speaks the plain standard to any GeoReport v2 server;
:class:`BuiltinClient` adds the extensions of minhu's own work-order service
(rich statuses and history through ``?extensions=true``, supplements,
withdrawal, ratings). Both implement ``bot.ports.TicketBackend``.

Errors are converted to minhu's tree, keeping the original as ``__cause__``::

    connect error, timeout, HTTP 5xx, 408, 425, 429 ..... BackendUnavailable
    a 2xx answer that is not the JSON we expect ......... BackendUnavailable
    HTTP 404 on a ticket or token ....................... TicketNotFound
    any other 4xx (403 wrong api_key, 400, 409 ...) ..... BackendRejected(status_code=...)
    supplement / withdraw / rate on a plain server ...... UnsupportedByBackend

A 2xx answer we cannot read counts as an outage, not a refusal: it comes
from a proxy's error page or a half-deployed server far more often than
from a server that means it, and after a ``POST`` we cannot tell whether
the request was created, so retrying with the same ``Idempotency-Key``
(which the built-in service honours) is the only safe move.

A filing answer with neither a ``service_request_id`` nor a ``token`` (an
Open311 "blackbox" service) gives a receipt without either: the request was
taken but can never be tracked, which is better than filing it again.

Filing is form-encoded as the standard says. Besides the standard fields
the client sends extension fields (further ``media_url`` values and
``attribute[...]`` entries) that the built-in service reads and a plain
server ignores. Photos that are not ``http(s)`` URLs (a channel's media id)
are left out: no Open311 server could fetch them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bot.errors import (
    AlreadyRated,
    BackendRejected,
    BackendUnavailable,
    TicketNotFound,
    UnsupportedByBackend,
)
from bot.logs import mask, mask_identifier
from bot.ports import BACKEND_CAPABILITIES, FilingReceipt
from bot.types import Location, StatusChange, Ticket, TicketDraft, TicketStatus

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DESCRIPTION_LIMIT",
    "GET_MANY_CHUNK",
    "IDEMPOTENCY_HEADER",
    "SERVICES_TTL_SECONDS",
    "BuiltinClient",
    "Open311Client",
    "Service",
]

log = logging.getLogger("minhu.ticketing.open311")

DEFAULT_TIMEOUT_SECONDS = 5.0
# domain.md §4: a request's description is at most 4000 characters.
DESCRIPTION_LIMIT = 4000
# How long the service list is trusted before it is fetched again.
SERVICES_TTL_SECONDS = 600.0
# Ids per ``GET requests.json?service_request_id=...``: keeps URLs short.
GET_MANY_CHUNK = 50
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The service a category without a service of its own is filed under.
OTHER_SERVICE_NAME = "其他"
OTHER_SERVICE_CODE = "other"
# 4xx answers that say "later", not "never".
_RETRY_LATER_STATUS = frozenset({408, 425, 429})
_ELLIPSIS = "…"
_FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Service:
    """One request type the server offers (``GET services.json``)."""

    code: str
    name: str


class Open311Client:
    """``TicketBackend`` for any standard GeoReport v2 server (JSON format)."""

    name = "open311"
    capabilities: frozenset[str] = frozenset()
    # Whether GETs ask for minhu's ``extended_attributes``.
    _extensions = False

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        jurisdiction_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        service_map: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._jurisdiction = jurisdiction_id
        self._timeout = timeout
        self._service_map = dict(service_map or {})
        self._monotonic = monotonic
        self._services: list[Service] | None = None
        self._services_at = 0.0
        self._services_lock = asyncio.Lock()

    # ------------------------------------------------------------ services

    async def services(self) -> list[Service]:
        """The server's request types, cached for ``SERVICES_TTL_SECONDS``."""
        if self._services is not None and not self._services_stale():
            return self._services
        async with self._services_lock:
            if self._services is not None and not self._services_stale():
                return self._services
            data = await self._call("GET", "services.json", what="the service list")
            services = [
                Service(code=_text(item.get("service_code")), name=_text(item.get("service_name")))
                for item in _items(data, "the service list")
                if _text(item.get("service_code"))
            ]
            self._services, self._services_at = services, self._monotonic()
            return services

    def _services_stale(self) -> bool:
        return self._monotonic() - self._services_at >= SERVICES_TTL_SECONDS

    def forget_services(self) -> None:
        """Fetch the service list again on next use (the server refused a code)."""
        self._services = None

    async def service_code_for(self, category: str) -> str:
        """The ``service_code`` a request of ``category`` is filed under."""
        mapped = self._service_map.get(category)
        if mapped:
            return mapped
        services = await self.services()
        if not services:
            raise BackendRejected("工单系统没有提供任何诉求类别（services 为空），无法登记")
        by_name = next((s for s in services if s.name == category), None)
        if by_name is None:
            by_name = next(
                (s for s in services
                 if s.name == OTHER_SERVICE_NAME or s.code == OTHER_SERVICE_CODE),
                services[0],
            )
        return by_name.code

    # ------------------------------------------------------------ filing

    async def file(
        self, draft: TicketDraft, *, idempotency_key: str, account_id: str
    ) -> FilingReceipt:
        # No place is sent for an inquiry or an emergency nobody located: the
        # server decides whether it takes requests without one (the built-in
        # service does for inquiries, suggestions, praise and emergencies).
        service_code = await self.service_code_for(draft.category)
        form = self._filing_form(draft, service_code=service_code, account_id=account_id)
        try:
            data = await self._call(
                "POST", "requests.json", form=form,
                headers={IDEMPOTENCY_HEADER: idempotency_key}, what="filing a request",
            )
        except BackendRejected as exc:
            if exc.status_code == 404:
                # The service code may have gone; look the list up afresh next time.
                self.forget_services()
            raise
        answer = _first(data, "the filing answer")
        ticket_id = _text(answer.get("service_request_id")) or None
        token = None if ticket_id else (_text(answer.get("token")) or None)
        notice = _text(answer.get("service_notice")) or None
        if ticket_id is None and token is None:
            log.warning(
                "the backend took a request without an id or a token; it cannot be tracked",
                extra={"account": mask_identifier(account_id), "service_code": service_code},
            )
        else:
            log.info(
                "request filed as %s", ticket_id or f"token {token}",
                extra={"account": mask_identifier(account_id), "service_code": service_code},
            )
        return FilingReceipt(ticket_id=ticket_id, token=token, notice=notice)

    def _filing_form(
        self, draft: TicketDraft, *, service_code: str, account_id: str
    ) -> list[tuple[str, str]]:
        form = self._auth_form()
        form.append(("service_code", service_code))
        if draft.location is not None:
            form += [("lat", repr(draft.location.latitude)),
                     ("long", repr(draft.location.longitude))]
        if draft.address and draft.address.strip():
            form.append(("address_string", draft.address.strip()))
        form.append(("description", _cut(draft.description, DESCRIPTION_LIMIT)))
        form.append(("account_id", account_id))
        if draft.phone and not draft.anonymous:
            form.append(("phone", draft.phone))
        form += [("media_url", url) for url in _urls(draft.photos)]
        form += [
            ("attribute[request_type]", draft.request_type),
            ("attribute[category]", draft.category),
            ("attribute[anonymous]", _flag(draft.anonymous)),
            ("attribute[urgent]", _flag(draft.urgent)),
        ]
        if draft.occurred_at:
            form.append(("attribute[occurred_at]", draft.occurred_at))
        if draft.district:
            form.append(("attribute[district]", draft.district))
        return form

    def _auth_form(self) -> list[tuple[str, str]]:
        form = [("api_key", self._api_key)]
        if self._jurisdiction:
            form.append(("jurisdiction_id", self._jurisdiction))
        return form

    async def resolve_token(self, token: str) -> str | None:
        if not token:
            raise TicketNotFound("没有这个登记凭证（token 为空）", status_code=404)
        data = await self._call(
            "GET", f"tokens/{quote(token, safe='')}.json", what="a filing token",
            not_found=f"工单系统没有登记凭证 {token}",
        )
        for item in _items(data, "the token answer"):
            ticket_id = _text(item.get("service_request_id"))
            if ticket_id:
                return ticket_id
        return None

    # ------------------------------------------------------------ lookups

    async def get(self, ticket_id: str) -> Ticket:
        if not ticket_id:
            raise TicketNotFound("工单编号为空", status_code=404)
        data = await self._call(
            "GET", f"requests/{quote(ticket_id, safe='')}.json", params=self._lookup_params(),
            what=f"ticket {ticket_id}", not_found=f"工单系统中没有工单 {ticket_id}",
        )
        items = _items(data, f"ticket {ticket_id}")
        if not items:
            raise TicketNotFound(f"工单系统中没有工单 {ticket_id}", status_code=404)
        return self._ticket(items[0])

    async def get_many(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        wanted = list(dict.fromkeys(i for i in ticket_ids if i and "," not in i))
        found: list[Ticket] = []
        for start in range(0, len(wanted), GET_MANY_CHUNK):
            chunk = wanted[start : start + GET_MANY_CHUNK]
            params = [("service_request_id", ",".join(chunk)), *self._lookup_params()]
            data = await self._call("GET", "requests.json", params=params, what="tickets")
            asked = set(chunk)
            for item in _items(data, "the ticket list"):
                try:
                    ticket = self._ticket(item)
                except BackendUnavailable as exc:
                    # One unreadable record must not hide the others.
                    log.warning("skipping an unreadable ticket record: %s", exc)
                    continue
                if ticket.ticket_id in asked:
                    found.append(ticket)
        return found

    def _lookup_params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if self._jurisdiction:
            params.append(("jurisdiction_id", self._jurisdiction))
        if self._extensions:
            params.append(("extensions", "true"))
        return params

    def _ticket(self, item: Mapping[str, Any]) -> Ticket:
        ticket_id = _text(item.get("service_request_id"))
        if not ticket_id:
            raise BackendUnavailable("a ticket record without service_request_id")
        created_at = _time(item.get("requested_datetime"))
        if created_at is None:
            raise BackendUnavailable(f"ticket {ticket_id} has no valid requested_datetime")
        updated_at = _time(item.get("updated_datetime"))
        department = _text(item.get("agency_responsible")) or None
        return Ticket(
            ticket_id=ticket_id,
            draft=self._draft(item),
            status=_plain_status(item, created_at, updated_at, department, ticket_id),
            created_at=created_at,
            department=department,
            due_at=_time(item.get("expected_datetime")),
            updated_at=updated_at,
            status_note=_text(item.get("status_notes")) or None,
        )

    def _draft(self, item: Mapping[str, Any]) -> TicketDraft:
        location = None
        lat, long = _number(item.get("lat")), _number(item.get("long"))
        if lat is not None and long is not None:
            location = Location(latitude=lat, longitude=long)
        media = _text(item.get("media_url")).strip()
        # Plain Open311 does not say which of the six request types it was.
        return TicketDraft(
            request_type="",
            category=self._category_of(item),
            description=_text(item.get("description")),
            address=_text(item.get("address")) or None,
            location=location,
            photos=(media,) if media else (),
        )

    def _category_of(self, item: Mapping[str, Any]) -> str:
        code = _text(item.get("service_code"))
        for category, mapped in self._service_map.items():
            if mapped == code:
                return category
        return _text(item.get("service_name")) or OTHER_SERVICE_NAME

    # ------------------------------------------------------------ extensions

    async def supplement(
        self, ticket_id: str, *, text: str, photos: Sequence[str], idempotency_key: str
    ) -> Ticket:
        raise UnsupportedByBackend("标准 Open311 工单系统不支持在线补充材料")

    async def withdraw(self, ticket_id: str, *, reason: str, idempotency_key: str) -> Ticket:
        raise UnsupportedByBackend("标准 Open311 工单系统不支持在线撤回诉求")

    async def rate(
        self, ticket_id: str, *, score: int, comment: str | None, idempotency_key: str
    ) -> Ticket:
        raise UnsupportedByBackend("标准 Open311 工单系统不支持在线评价")

    # ------------------------------------------------------------ HTTP

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Sequence[tuple[str, str]] | None = None,
        form: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        not_found: str | None = None,
    ) -> Any:
        """One request; the parsed JSON answer, or one of our errors."""
        url = f"{self._base}/{path}"
        send_headers = {"Accept": "application/json", **(headers or {})}
        content = None
        if form is not None:
            content = urlencode(list(form)).encode("utf-8")
            send_headers["Content-Type"] = _FORM_TYPE
        if params is None and method == "GET" and self._jurisdiction:
            params = [("jurisdiction_id", self._jurisdiction)]
        try:
            response = await self._http.request(
                method, url, params=list(params) if params else None, content=content,
                headers=send_headers, timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(f"the ticket backend timed out on {what}") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"the ticket backend is unreachable on {what}: {type(exc).__name__}"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json()
            except ValueError as exc:
                raise BackendUnavailable(
                    f"the ticket backend answered {what} with invalid JSON"
                ) from exc
        reason = _error_description(response)
        if status >= 500 or status in _RETRY_LATER_STATUS or status < 400:
            log.warning("the ticket backend answered %s with HTTP %d: %s", what, status,
                        mask(reason))
            raise BackendUnavailable(f"the ticket backend answered {what} with HTTP {status}")
        log.warning("the ticket backend refused %s with HTTP %d: %s", what, status, mask(reason))
        detail = f"：{reason}" if reason else ""
        if status == 404 and not_found is not None:
            raise TicketNotFound(f"{not_found}{detail}", status_code=404)
        raise BackendRejected(f"工单系统拒绝了请求（HTTP {status}）{detail}", status_code=status)


class BuiltinClient(Open311Client):
    """``TicketBackend`` for minhu's built-in work-order service: the standard
    plus rich statuses, history, supplements, withdrawal and ratings."""

    name = "builtin"
    capabilities: frozenset[str] = BACKEND_CAPABILITIES
    _extensions = True

    async def file(
        self, draft: TicketDraft, *, idempotency_key: str, account_id: str
    ) -> FilingReceipt:
        receipt = await super().file(
            draft, idempotency_key=idempotency_key, account_id=account_id
        )
        if receipt.ticket_id is None:
            return receipt
        # The filing answer names no department or deadline; the resident is
        # told both at once, so look them up. Filed is filed, even if this fails.
        try:
            ticket = await self.get(receipt.ticket_id)
        except (BackendUnavailable, BackendRejected) as exc:
            log.info("could not look up the new ticket %s: %s", receipt.ticket_id, exc)
            return receipt
        return FilingReceipt(
            ticket_id=receipt.ticket_id, token=receipt.token, department=ticket.department,
            due_at=ticket.due_at, notice=receipt.notice,
        )

    async def supplement(
        self, ticket_id: str, *, text: str, photos: Sequence[str], idempotency_key: str
    ) -> Ticket:
        form = [("description", text), *(("media_url", url) for url in _urls(photos))]
        return await self._act(ticket_id, "supplements", form, idempotency_key, "a supplement")

    async def withdraw(self, ticket_id: str, *, reason: str, idempotency_key: str) -> Ticket:
        return await self._act(
            ticket_id, "withdraw", [("reason", reason)], idempotency_key, "a withdrawal"
        )

    async def rate(
        self, ticket_id: str, *, score: int, comment: str | None, idempotency_key: str
    ) -> Ticket:
        form = [("score", str(score))]
        if comment:
            form.append(("comment", comment))
        try:
            return await self._act(ticket_id, "rating", form, idempotency_key, "a rating")
        except BackendRejected as exc:
            # Its 409 also means "not finished yet": only a refusal that says
            # the matter was rated before is one.
            if exc.status_code == 409 and _says_already_rated(str(exc)):
                raise AlreadyRated(str(exc), status_code=409) from exc
            raise

    async def _act(
        self, ticket_id: str, action: str, form: list[tuple[str, str]], idempotency_key: str,
        what: str,
    ) -> Ticket:
        if not ticket_id:
            raise TicketNotFound("工单编号为空", status_code=404)
        data = await self._call(
            "POST", f"requests/{quote(ticket_id, safe='')}/{action}.json",
            form=[*self._auth_form(), *form], headers={IDEMPOTENCY_HEADER: idempotency_key},
            what=f"{what} to {ticket_id}", not_found=f"工单系统中没有工单 {ticket_id}",
        )
        return self._ticket(_first(data, f"the answer to {what}"))

    def _ticket(self, item: Mapping[str, Any]) -> Ticket:
        ticket = super()._ticket(item)
        extended = item.get("extended_attributes")
        if not isinstance(extended, Mapping):
            return ticket
        status = _status(extended.get("status")) or ticket.status
        draft = ticket.draft
        draft = TicketDraft(
            request_type=_text(extended.get("request_type")) or draft.request_type,
            category=_text(extended.get("category")) or draft.category,
            description=draft.description,
            address=draft.address,
            location=draft.location,
            photos=draft.photos,
            anonymous=_flag_value(extended.get("anonymous")),
            urgent=_flag_value(extended.get("urgent")),
        )
        rating = extended.get("rating")
        adopted = extended.get("adopted")
        return Ticket(
            ticket_id=ticket.ticket_id,
            draft=draft,
            status=status,
            created_at=ticket.created_at,
            department=ticket.department,
            due_at=_time(extended.get("due_datetime")) or ticket.due_at,
            history=tuple(_history(ticket.ticket_id, extended.get("history"))),
            updated_at=ticket.updated_at,
            status_note=ticket.status_note,
            rating=rating if isinstance(rating, int) and not isinstance(rating, bool) else None,
            adopted=adopted if isinstance(adopted, bool) else None,
        )


# ---------------------------------------------------------------- parsing


def _plain_status(
    item: Mapping[str, Any], created_at: datetime, updated_at: datetime | None,
    department: str | None, ticket_id: str,
) -> TicketStatus:
    """The richest status a plain server's ``open``/``closed`` lets us infer."""
    status = _text(item.get("status")).lower()
    if status == "closed":
        return TicketStatus.FINISHED
    if status == "open":
        untouched = updated_at is None or updated_at == created_at
        return TicketStatus.ACCEPTED if untouched and not department else TicketStatus.IN_PROGRESS
    raise BackendUnavailable(f"ticket {ticket_id} has an unknown status {status!r}")


def _history(ticket_id: str, entries: Any) -> Iterable[StatusChange]:
    """The status changes among the built-in service's history entries, oldest first."""
    if not isinstance(entries, list):
        return []
    changes: list[StatusChange] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("kind") != "status":
            continue
        status, at = _status(entry.get("status")), _time(entry.get("at"))
        if status is None or at is None:
            log.warning("skipping an unreadable history entry of ticket %s", ticket_id)
            continue
        adopted = entry.get("adopted")
        changes.append(StatusChange(
            ticket_id=ticket_id,
            status=status,
            at=at,
            note=_text(entry.get("note")) or None,
            department=_text(entry.get("department")) or None,
            previous=_status(entry.get("previous")),
            adopted=adopted if isinstance(adopted, bool) else None,
        ))
    changes.sort(key=lambda c: c.at)
    return changes


def _status(value: Any) -> TicketStatus | None:
    try:
        return TicketStatus(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _items(data: Any, what: str) -> list[Mapping[str, Any]]:
    """Open311 JSON answers are lists of objects; accept a bare object too."""
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list) and all(isinstance(item, Mapping) for item in data):
        return data
    raise BackendUnavailable(f"{what} is not a list of objects")


def _first(data: Any, what: str) -> Mapping[str, Any]:
    items = _items(data, what)
    if not items:
        raise BackendUnavailable(f"{what} is empty")
    return items[0]


def _text(value: Any) -> str:
    """Open311 servers send ids as strings or numbers; null is empty."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    """A w3 datetime; without an offset it is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _flag_value(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _urls(photos: Iterable[str]) -> list[str]:
    return [p for p in photos if p.startswith(("http://", "https://"))]


def _error_description(response: httpx.Response) -> str:
    """The Open311 error's ``description`` (``[{"code", "description"}]``), if any."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip()
    entries = data if isinstance(data, list) else [data]
    descriptions = [
        _text(e.get("description")) for e in entries
        if isinstance(e, Mapping) and _text(e.get("description"))
    ]
    return "；".join(descriptions)[:500]


def _says_already_rated(reason: str) -> bool:
    return any(words in reason for words in ("已评价", "评价过", "只能评价一次", "already rated"))
