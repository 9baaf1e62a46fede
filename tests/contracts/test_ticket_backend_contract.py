"""The ``TicketBackend`` contract, run against every implementation:

- ``open311``: :class:`Open311Client` over a fake plain Open311 server;
- ``builtin``: :class:`BuiltinClient` over minhu's real work-order router
  (``build_open311_router`` on a ``WorkOrderService``, on SQLite, or on
  PostgreSQL with ``MINHU_TEST_DATABASE=postgres``).

What plain Open311 lacks is part of the contract too: where a backend's
``capabilities`` leave an operation out, it raises ``UnsupportedByBackend``;
where they name it, it works.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bot.errors import BackendRejected, BackendUnavailable, TicketNotFound, UnsupportedByBackend
from bot.ports import TicketBackend
from bot.types import Location, TicketDraft, TicketStatus
from integrations.storage import build_storage
from integrations.ticketing.builtin.api import build_open311_router
from integrations.ticketing.builtin.catalogue import load_catalogue
from integrations.ticketing.builtin.service import WorkOrderService
from integrations.ticketing.open311 import BuiltinClient, Open311Client
from tests.support import database
from tests.ticketing import fake_open311
from tests.ticketing.fake_open311 import FakeOpen311

BUILTIN_KEY = "contract-open311-key"
BUILTIN_BASE = "http://workorders.test/open311/v2"
UNKNOWN_ID = "MH209901010001"

DRAFT = TicketDraft(
    request_type="complain",
    category="城乡建设",
    description="和平路12号门口的路灯坏了一周，晚上很黑",
    address="示范区和平路12号",
    location=Location(latitude=39.91, longitude=116.4),
    occurred_at="上周三晚上",
    phone="13812345678",
    photos=("https://img.example.test/lamp.jpg",),
)


class Faults(httpx.AsyncBaseTransport):
    """Wraps a backend's transport: ``down`` refuses the next connections,
    ``lost`` lets the next requests through and drops their answers."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = 0
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            self.down -= 1
            raise httpx.ConnectError("injected outage", request=request)
        response = await self.inner.handle_async_request(request)
        if self.lost:
            self.lost -= 1
            await response.aread()
            raise httpx.ReadError("injected: the answer was lost", request=request)
        return response


@dataclass
class Harness:
    name: str
    backend: TicketBackend
    wrong_key: TicketBackend
    faults: Faults
    service: WorkOrderService | None = None
    fake: FakeOpen311 | None = None

    async def finish(self, ticket_id: str) -> None:
        """What staff do in the back office: answer and finish the ticket."""
        if self.service is not None:
            for status in (TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS):
                await self.service.transition(ticket_id, status, actor="contract")
            await self.service.transition(ticket_id, TicketStatus.FINISHED, actor="contract",
                                          note="路灯已修复")
        else:
            assert self.fake is not None
            self.fake.update(ticket_id, status="closed", status_notes="路灯已修复")

    async def count(self) -> int:
        if self.service is not None:
            return len(await self.service.search())
        assert self.fake is not None
        return len(self.fake.requests)


@pytest.fixture(params=["open311", "builtin"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "open311":
        fake = FakeOpen311()
        faults = Faults(fake.transport())
        async with httpx.AsyncClient(transport=faults) as http:
            yield Harness(
                "open311",
                Open311Client(http, base_url=fake_open311.BASE_URL, api_key=fake.api_key),
                Open311Client(http, base_url=fake_open311.BASE_URL, api_key="wrong-key"),
                faults, fake=fake,
            )
        return
    async with database(tmp_path) as (url, search_path):
        storage = build_storage(url, search_path=search_path)
        await storage.migrate()
        assert storage.database is not None
        service = WorkOrderService(storage.database, load_catalogue())
        app = FastAPI()
        app.include_router(build_open311_router(service, api_key=BUILTIN_KEY),
                           prefix="/open311/v2")
        faults = Faults(httpx.ASGITransport(app=app))
        try:
            async with httpx.AsyncClient(transport=faults) as http:
                yield Harness(
                    "builtin",
                    BuiltinClient(http, base_url=BUILTIN_BASE, api_key=BUILTIN_KEY),
                    BuiltinClient(http, base_url=BUILTIN_BASE, api_key="wrong-key"),
                    faults, service=service,
                )
        finally:
            await storage.close()


async def test_a_filed_request_reads_back_as_it_was_filed(harness: Harness) -> None:
    receipt = await harness.backend.file(DRAFT, idempotency_key="k-1", account_id="mh-acc-1")
    assert receipt.ticket_id
    ticket = await harness.backend.get(receipt.ticket_id)
    assert ticket.ticket_id == receipt.ticket_id
    assert ticket.draft.description == DRAFT.description
    assert ticket.status is TicketStatus.ACCEPTED
    [same] = await harness.backend.get_many([receipt.ticket_id, UNKNOWN_ID])
    assert same.ticket_id == receipt.ticket_id


async def test_unknown_tickets_wrong_keys_and_outages_are_told_apart(harness: Harness) -> None:
    with pytest.raises(TicketNotFound):
        await harness.backend.get(UNKNOWN_ID)
    with pytest.raises(BackendRejected) as refused:
        await harness.wrong_key.file(DRAFT, idempotency_key="k-2", account_id="mh-acc-1")
    assert not isinstance(refused.value, TicketNotFound)
    harness.faults.down = 1
    with pytest.raises(BackendUnavailable):
        await harness.backend.file(DRAFT, idempotency_key="k-3", account_id="mh-acc-1")
    assert await harness.count() == 0


async def test_a_finished_ticket_reads_back_finished_with_its_answer(harness: Harness) -> None:
    receipt = await harness.backend.file(DRAFT, idempotency_key="k-4", account_id="mh-acc-1")
    assert receipt.ticket_id
    await harness.finish(receipt.ticket_id)
    ticket = await harness.backend.get(receipt.ticket_id)
    assert ticket.status is TicketStatus.FINISHED
    assert ticket.status_note == "路灯已修复"


async def test_a_repeated_idempotency_key_files_one_ticket_where_honoured(
    harness: Harness,
) -> None:
    if harness.name != "builtin":
        pytest.skip("a plain Open311 server does not promise idempotency")
    harness.faults.lost = 1
    with pytest.raises(BackendUnavailable):
        await harness.backend.file(DRAFT, idempotency_key="k-5", account_id="mh-acc-1")
    receipt = await harness.backend.file(DRAFT, idempotency_key="k-5", account_id="mh-acc-1")
    assert receipt.ticket_id and await harness.count() == 1


async def test_extensions_work_where_offered_and_are_refused_plainly_elsewhere(
    harness: Harness,
) -> None:
    receipt = await harness.backend.file(DRAFT, idempotency_key="k-6", account_id="mh-acc-1")
    ticket_id = receipt.ticket_id
    assert ticket_id
    if "supplement" not in harness.backend.capabilities:
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.supplement(ticket_id, text="补充", photos=(),
                                             idempotency_key="s-1")
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.withdraw(ticket_id, reason="不需要了", idempotency_key="w-1")
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.rate(ticket_id, score=5, comment=None, idempotency_key="r-1")
        return
    supplemented = await harness.backend.supplement(
        ticket_id, text="晚上八点后完全不亮", photos=("https://img.example.test/2.jpg",),
        idempotency_key="s-1")
    assert supplemented.status is TicketStatus.ACCEPTED
    await harness.finish(ticket_id)
    rated = await harness.backend.rate(ticket_id, score=1, comment="没修好",
                                       idempotency_key="r-1")
    assert rated.status is TicketStatus.REOPENED and rated.rating == 1
    assert [c.status for c in rated.history][-1] is TicketStatus.REOPENED
    with pytest.raises(BackendRejected):
        await harness.backend.rate(ticket_id, score=5, comment=None, idempotency_key="r-2")

    other = await harness.backend.file(DRAFT, idempotency_key="k-7", account_id="mh-acc-1")
    assert other.ticket_id
    withdrawn = await harness.backend.withdraw(other.ticket_id, reason="问题已自行解决",
                                               idempotency_key="w-1")
    assert withdrawn.status is TicketStatus.WITHDRAWN
