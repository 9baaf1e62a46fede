"""Shared pieces of the built-in service's tests: a settable clock, a receiver
of webhooks, the Open311 JSON schemas (copied into the repository, since CI
has no /work/shared), and sample filings."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from integrations.ticketing.builtin.service import FilingRequest

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "open311_schemas"
SCHEMA_NAMES = (
    "request.json", "requests.json", "service.json", "services.json", "service-definition.json"
)
WEBHOOK_URL = "http://bot.test/tickets/webhook"
WEBHOOK_SECRET = "webhook-secret-for-tests"
API_KEY = "open311-key-for-tests"


class FakeClock:
    """A settable UTC clock; starts at 2026-11-23 16:30 in Asia/Shanghai."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return loaded


_REGISTRY: Registry[Any] = Registry().with_resources(
    (name, Resource.from_contents(_schema(name), default_specification=DRAFT7))
    for name in SCHEMA_NAMES
)


def assert_valid(instance: Any, schema_name: str) -> None:
    """Validate against a GeoReport v2 schema; also check the date-time fields,
    which the schemas mark with a ``format`` jsonschema does not enforce."""
    Draft7Validator(_schema(schema_name), registry=_REGISTRY).validate(instance)
    requests = instance if isinstance(instance, list) else [instance]
    for item in requests:
        if not isinstance(item, dict):
            continue
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            if item.get(name) is not None:
                assert datetime.fromisoformat(item[name]).tzinfo is not None, (name, item[name])


def filing(**overrides: Any) -> FilingRequest:
    values: dict[str, Any] = {
        "service_code": "urban_construction",
        "description": "和平路12号门口的路灯坏了一个星期，晚上很黑",
        "request_type": "complain",
        "category": "城乡建设",
        "address": "示范区和平路12号",
        "lat": 39.91,
        "long": 116.40,
        "occurred_at": "上周三晚上",
        "phone": "13812345678",
        "account_id": "mh-resident-0001",
        "media_urls": ("https://img.example.test/lamp.jpg",),
    }
    values.update(overrides)
    return FilingRequest(**values)


@dataclass
class Receiver:
    """The bot's webhook endpoint, faked: answers with ``statuses`` in turn
    (then 200), or raises ``ConnectError`` for a status of 0."""

    statuses: list[int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 0:
            raise httpx.ConnectError("receiver down", request=request)
        return httpx.Response(status, json={"ok": status < 300})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]
