"""A fake *plain* Open311 GeoReport v2 server, served through ``httpx.MockTransport``.

Standard JSON endpoints only (``services.json``, ``POST requests.json``,
``tokens/{token}.json``, ``requests.json``, ``requests/{id}.json``); it
ignores minhu's extensions as a standard server would, and in particular it
does NOT honour ``Idempotency-Key``: sending the same request twice makes two
requests here. That is the point of :meth:`FakeOpen311.lose_answers`, which
creates the request and then drops the answer as a broken connection would:
against this server a retry duplicates, against the built-in service the
key prevents it.

Everything received is recorded in :attr:`FakeOpen311.received`; failures
can be injected for the next N calls; staff actions are simulated with
:meth:`FakeOpen311.update`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx

__all__ = ["BASE_URL", "DEFAULT_SERVICES", "FakeOpen311", "Received", "StoredRequest"]

BASE_URL = "http://open311.test/v2"
API_KEY = "fake-open311-key"

DEFAULT_SERVICES: tuple[dict[str, Any], ...] = (
    {"service_code": "001", "service_name": "城乡建设", "description": "市政设施",
     "metadata": False, "type": "realtime", "keywords": "路灯,井盖", "group": "城市管理"},
    {"service_code": "002", "service_name": "环境保护", "description": "噪声与污染",
     "metadata": False, "type": "realtime", "keywords": "噪音", "group": "环境"},
    {"service_code": "099", "service_name": "其他", "description": "其他诉求",
     "metadata": False, "type": "realtime", "keywords": None, "group": None},
)

Failure = Literal["500", "429", "connect", "timeout", "garbage"]


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    params: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: httpx.Headers

    def field(self, name: str) -> str | None:
        values = self.fields(name)
        return values[0] if values else None

    def fields(self, name: str) -> list[str]:
        return [v for k, v in self.form if k == name]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


@dataclass
class StoredRequest:
    service_request_id: str
    token: str
    service_code: str
    service_name: str
    description: str
    address: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    requested: datetime
    updated: datetime
    status: str = "open"
    status_notes: str | None = None
    agency_responsible: str | None = None
    expected: datetime | None = None
    form: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "service_request_id": self.service_request_id,
            "status": self.status,
            "status_notes": self.status_notes,
            "service_name": self.service_name,
            "service_code": self.service_code,
            "description": self.description,
            "agency_responsible": self.agency_responsible,
            "service_notice": None,
            "requested_datetime": _w3(self.requested),
            "updated_datetime": _w3(self.updated),
            "expected_datetime": _w3(self.expected) if self.expected else None,
            "address": self.address,
            "address_id": None,
            "zipcode": None,
            "lat": self.lat,
            "long": self.long,
            "media_url": self.media_url,
        }


def _w3(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, description: str) -> httpx.Response:
    return httpx.Response(status, json=[{"code": status, "description": description}])


class FakeOpen311:
    """The fake server's state and its ``MockTransport`` handler."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        services: tuple[dict[str, Any], ...] = DEFAULT_SERVICES,
        jurisdiction_id: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.services = list(services)
        self.jurisdiction_id = jurisdiction_id
        self.requests: dict[str, StoredRequest] = {}
        self.received: list[Received] = []
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        # Answer POST requests.json with a token instead of an id.
        self.answer_with_token = False
        # While true, GET tokens/{token}.json does not give the id yet.
        self.tokens_pending = False
        self._failures: list[Failure] = []
        self._lost_answers = 0
        self._next_id = 1001

    # ------------------------------------------------------------ test controls

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    def fail_next(self, times: int, how: Failure = "500") -> None:
        """The next ``times`` calls fail without touching the state."""
        self._failures.extend([how] * times)

    def lose_answers(self, times: int = 1) -> None:
        """The next ``times`` filings are created, then the answer is lost."""
        self._lost_answers += times

    def update(
        self,
        service_request_id: str,
        *,
        status: str | None = None,
        status_notes: str | None = None,
        agency_responsible: str | None = None,
        expected: datetime | None = None,
        after: timedelta = timedelta(minutes=5),
    ) -> StoredRequest:
        """What staff would do in the back office: the record changes, time passes."""
        self.now += after
        stored = self.requests[service_request_id]
        if status is not None:
            stored.status = status
        if status_notes is not None:
            stored.status_notes = status_notes
        if agency_responsible is not None:
            stored.agency_responsible = agency_responsible
        if expected is not None:
            stored.expected = expected
        stored.updated = self.now
        return stored

    def filings(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and r.path == "/v2/requests.json"]

    # ------------------------------------------------------------ the server

    def handle(self, request: httpx.Request) -> httpx.Response:
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            form = parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
        self.received.append(Received(
            method=request.method,
            path=request.url.path,
            params=list(request.url.params.multi_items()),
            form=form,
            headers=request.headers,
        ))
        if self._failures:
            how = self._failures.pop(0)
            if how == "connect":
                raise httpx.ConnectError("injected: connection refused", request=request)
            if how == "timeout":
                raise httpx.ReadTimeout("injected: timed out", request=request)
            if how == "garbage":
                return httpx.Response(200, text="<html>proxy error</html>")
            status = 429 if how == "429" else 500
            return httpx.Response(status, text="injected failure")
        return self._route(request, form)

    def _route(self, request: httpx.Request, form: list[tuple[str, str]]) -> httpx.Response:
        path = request.url.path.removeprefix("/v2/")
        params = dict(request.url.params)
        jurisdiction = dict(form).get("jurisdiction_id") if form else params.get("jurisdiction_id")
        if self.jurisdiction_id is not None and jurisdiction != self.jurisdiction_id:
            return _error(400, "jurisdiction_id was not provided")
        if not path.endswith(".json"):
            return _error(400, "only the JSON format is served")
        path = path.removesuffix(".json")
        if request.method == "GET" and path == "services":
            return httpx.Response(200, json=self.services)
        if request.method == "POST" and path == "requests":
            return self._file(request, form)
        if request.method == "GET" and path.startswith("tokens/"):
            return self._token(path.removeprefix("tokens/"))
        if request.method == "GET" and path == "requests":
            ids = params.get("service_request_id", "")
            found = [self.requests[i].as_json() for i in ids.split(",") if i in self.requests]
            return httpx.Response(200, json=found)
        if request.method == "GET" and path.startswith("requests/"):
            stored = self.requests.get(path.removeprefix("requests/"))
            if stored is None:
                return _error(404, "service_request_id was not found")
            return httpx.Response(200, json=[stored.as_json()])
        return _error(404, "no such endpoint")

    def _file(self, request: httpx.Request, form: list[tuple[str, str]]) -> httpx.Response:
        values = dict(form)
        if values.get("api_key") != self.api_key:
            return _error(403, "api_key is not valid")
        service = next(
            (s for s in self.services if s["service_code"] == values.get("service_code")), None
        )
        if service is None:
            return _error(404, "service_code was not found")
        has_point = bool(values.get("lat")) and bool(values.get("long"))
        if not (has_point or values.get("address_string") or values.get("address_id")):
            return _error(400, "a location is required")
        description = values.get("description", "")
        if len(description) > 4000:
            return _error(400, "description is longer than 4000 characters")
        ticket_id = str(self._next_id)
        self._next_id += 1
        media = [v for k, v in form if k == "media_url"]
        self.requests[ticket_id] = StoredRequest(
            service_request_id=ticket_id,
            token=f"tok-{ticket_id}",
            service_code=service["service_code"],
            service_name=service["service_name"],
            description=description,
            address=values.get("address_string"),
            lat=float(values["lat"]) if has_point else None,
            long=float(values["long"]) if has_point else None,
            media_url=media[0] if media else None,
            requested=self.now,
            updated=self.now,
            form=form,
        )
        if self._lost_answers:
            self._lost_answers -= 1
            raise httpx.ReadError("injected: the answer was lost", request=request)
        answer: dict[str, Any] = {"service_notice": "我们会尽快处理", "account_id": None}
        if self.answer_with_token:
            answer["token"] = f"tok-{ticket_id}"
        else:
            answer["service_request_id"] = ticket_id
        return httpx.Response(200, content=json.dumps([answer]).encode("utf-8"),
                              headers={"content-type": "application/json"})

    def _token(self, token: str) -> httpx.Response:
        stored = next((r for r in self.requests.values() if r.token == token), None)
        if stored is None:
            return _error(404, "token was not found")
        if self.tokens_pending:
            return httpx.Response(200, json=[{"token": token}])
        return httpx.Response(
            200, json=[{"service_request_id": stored.service_request_id, "token": token}]
        )
