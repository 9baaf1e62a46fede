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
from bot.types import Location, StatusChange, TicketDraft, TicketStatus
from integrations.storage import build_storage
from integrations.ticketing.builtin.api import build_open311_router
from integrations.ticketing.builtin.catalogue import load_catalogue
from integrations.ticketing.builtin.service import WorkOrderService
from integrations.ticketing.builtin.webhooks import WebhookDispatcher
from integrations.ticketing.open311 import BuiltinClient, Open311Client
from integrations.ticketing.receiver import build_status_webhook, status_changes
from tests.support import database
from tests.ticketing import fake_open311
from tests.ticketing.fake_open311 import FakeOpen311

BUILTIN_KEY = "contract-open311-key"
BUILTIN_BASE = "http://workorders.test/open311/v2"
WEBHOOK_URL = "http://bot.test/tickets/webhook"
WEBHOOK_SECRET = "contract-webhook-secret"
UNKNOWN_ID = "MH209901010001"
ANSWER = "路灯已修复"

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
    """One backend under test, and the back office behind it."""

    name: str
    backend: TicketBackend
    wrong_key: TicketBackend
    faults: Faults
    service: WorkOrderService | None = None
    fake: FakeOpen311 | None = None

    async def file(self, draft: TicketDraft = DRAFT, *, key: str = "k-1") -> str:
        receipt = await self.backend.file(draft, idempotency_key=key, account_id="mh-acc-1")
        assert receipt.ticket_id, receipt
        return receipt.ticket_id

    async def finish(self, ticket_id: str) -> None:
        """What staff do in the back office: dispatch, handle, answer and finish."""
        if self.service is not None:
            for status in (TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS):
                await self.service.transition(ticket_id, status, actor="contract")
            await self.service.transition(ticket_id, TicketStatus.FINISHED, actor="contract",
                                          note=ANSWER)
        else:
            assert self.fake is not None
            self.fake.update(ticket_id, agency_responsible="示范区城管委")
            self.fake.update(ticket_id, status="closed", status_notes=ANSWER)

    async def token_of(self, ticket_id: str) -> str:
        if self.service is not None:
            order = await self.service.get(ticket_id)
            assert order is not None
            return order.token
        assert self.fake is not None
        return self.fake.requests[ticket_id].token

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
        service = WorkOrderService(
            storage.database, load_catalogue(),
            webhook_url=WEBHOOK_URL, webhook_secret=WEBHOOK_SECRET,
        )
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


# ---------------------------------------------------------------- every backend


async def test_a_filed_request_reads_back_as_it_was_filed(harness: Harness) -> None:
    ticket_id = await harness.file()

    ticket = await harness.backend.get(ticket_id)

    assert ticket.ticket_id == ticket_id
    assert ticket.status is TicketStatus.ACCEPTED
    assert ticket.draft.description == DRAFT.description
    assert ticket.draft.category == DRAFT.category
    assert ticket.draft.address == DRAFT.address
    assert ticket.draft.location is not None
    assert ticket.draft.location.latitude == pytest.approx(39.91)
    assert ticket.draft.location.longitude == pytest.approx(116.4)
    assert ticket.draft.photos == DRAFT.photos
    assert ticket.created_at.tzinfo is not None


async def test_get_many_finds_the_known_and_leaves_out_the_unknown(harness: Harness) -> None:
    first = await harness.file(key="k-a")
    second = await harness.file(key="k-b")

    found = await harness.backend.get_many([first, UNKNOWN_ID, second])

    assert sorted(t.ticket_id for t in found) == sorted([first, second])
    assert await harness.backend.get_many([]) == []


async def test_a_filing_token_resolves_to_its_ticket(harness: Harness) -> None:
    ticket_id = await harness.file()

    assert await harness.backend.resolve_token(await harness.token_of(ticket_id)) == ticket_id
    with pytest.raises(TicketNotFound):
        await harness.backend.resolve_token("no-such-token")


async def test_a_server_answering_with_a_token_is_followed_up() -> None:
    fake = FakeOpen311()
    fake.answer_with_token = True
    fake.tokens_pending = True
    async with fake.client() as http:
        backend = Open311Client(http, base_url=fake_open311.BASE_URL, api_key=fake.api_key)
        receipt = await backend.file(DRAFT, idempotency_key="k", account_id="mh-acc-1")
        assert receipt.ticket_id is None and receipt.token
        assert await backend.resolve_token(receipt.token) is None
        fake.tokens_pending = False
        ticket_id = await backend.resolve_token(receipt.token)
        assert ticket_id is not None
        assert (await backend.get(ticket_id)).draft.description == DRAFT.description


async def test_an_unknown_ticket_is_not_found(harness: Harness) -> None:
    with pytest.raises(TicketNotFound):
        await harness.backend.get(UNKNOWN_ID)


async def test_a_wrong_api_key_is_rejected_and_files_nothing(harness: Harness) -> None:
    with pytest.raises(BackendRejected) as refused:
        await harness.wrong_key.file(DRAFT, idempotency_key="k-2", account_id="mh-acc-1")

    assert refused.value.status_code == 403
    assert not isinstance(refused.value, TicketNotFound)
    assert await harness.count() == 0


async def test_an_outage_is_unavailable_and_passes(harness: Harness) -> None:
    harness.faults.down = 2
    with pytest.raises(BackendUnavailable):
        await harness.backend.file(DRAFT, idempotency_key="k-3", account_id="mh-acc-1")
    with pytest.raises(BackendUnavailable):
        await harness.backend.get(UNKNOWN_ID)
    assert await harness.count() == 0

    await harness.file(key="k-3")
    assert await harness.count() == 1


async def test_a_finished_ticket_reads_back_finished_and_polling_sees_it(
    harness: Harness,
) -> None:
    ticket_id = await harness.file()
    before = await harness.backend.get(ticket_id)

    await harness.finish(ticket_id)
    (after,) = await harness.backend.get_many([ticket_id])

    assert after.status is TicketStatus.FINISHED
    assert after.status_note == ANSWER
    assert after.department
    changes = [change for change, _ in status_changes(before, after)]
    assert changes[-1].status is TicketStatus.FINISHED
    assert changes[-1].note == ANSWER
    assert status_changes(after, after) == []


# ---------------------------------------------------------------- extensions


async def test_a_repeated_idempotency_key_files_one_ticket_where_honoured(
    harness: Harness,
) -> None:
    if not harness.backend.capabilities:
        pytest.skip("plain Open311 has no Idempotency-Key (the fake documents the duplicate)")
    harness.faults.lost = 1
    with pytest.raises(BackendUnavailable):
        await harness.backend.file(DRAFT, idempotency_key="k-5", account_id="mh-acc-1")

    first = await harness.file(key="k-5")
    again = await harness.file(key="k-5")

    assert first == again
    assert await harness.count() == 1


async def test_a_supplement_is_added_once(harness: Harness) -> None:
    ticket_id = await harness.file()
    if "supplement" not in harness.backend.capabilities:
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.supplement(ticket_id, text="补充", photos=(),
                                             idempotency_key="s-1")
        return
    assert harness.service is not None

    for _ in range(2):
        ticket = await harness.backend.supplement(
            ticket_id, text="晚上八点后完全不亮", photos=("https://img.example.test/2.jpg",),
            idempotency_key="s-1",
        )

    assert ticket.ticket_id == ticket_id
    assert ticket.status is TicketStatus.ACCEPTED
    supplements = [e for e in await harness.service.history(ticket_id) if e.kind == "supplement"]
    assert [(e.note, e.media_urls) for e in supplements] == [
        ("晚上八点后完全不亮", ("https://img.example.test/2.jpg",))
    ]
    with pytest.raises(TicketNotFound):
        await harness.backend.supplement(UNKNOWN_ID, text="x", photos=(), idempotency_key="s-2")


async def test_a_withdrawn_ticket_cannot_be_withdrawn_again(harness: Harness) -> None:
    ticket_id = await harness.file()
    if "withdraw" not in harness.backend.capabilities:
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.withdraw(ticket_id, reason="不需要了", idempotency_key="w-1")
        return

    withdrawn = await harness.backend.withdraw(ticket_id, reason="问题已自行解决",
                                               idempotency_key="w-1")

    assert withdrawn.status is TicketStatus.WITHDRAWN
    assert (await harness.backend.get(ticket_id)).status is TicketStatus.WITHDRAWN
    with pytest.raises(BackendRejected) as again:
        await harness.backend.withdraw(ticket_id, reason="再撤一次", idempotency_key="w-2")
    assert again.value.status_code == 409


async def test_a_rating_comes_after_the_answer_and_only_once(harness: Harness) -> None:
    ticket_id = await harness.file()
    if "rating" not in harness.backend.capabilities:
        with pytest.raises(UnsupportedByBackend):
            await harness.backend.rate(ticket_id, score=5, comment=None, idempotency_key="r-1")
        return
    with pytest.raises(BackendRejected) as early:
        await harness.backend.rate(ticket_id, score=5, comment=None, idempotency_key="r-0")
    assert early.value.status_code == 409

    await harness.finish(ticket_id)
    rated = await harness.backend.rate(ticket_id, score=5, comment="很及时",
                                       idempotency_key="r-1")
    repeated = await harness.backend.rate(ticket_id, score=5, comment="很及时",
                                          idempotency_key="r-1")

    assert rated.rating == 5 and rated.status is TicketStatus.FINISHED
    assert repeated.rating == 5
    with pytest.raises(BackendRejected) as twice:
        await harness.backend.rate(ticket_id, score=1, comment=None, idempotency_key="r-2")
    assert twice.value.status_code == 409
    assert (await harness.backend.get(ticket_id)).rating == 5


async def test_only_a_second_rating_is_refused_as_already_rated(harness: Harness) -> None:
    """Both refusals are 409s; the client tells them apart for the ticket desk."""
    from bot.errors import AlreadyRated

    if "rating" not in harness.backend.capabilities:
        return
    ticket_id = await harness.file()
    with pytest.raises(BackendRejected) as early:
        await harness.backend.rate(ticket_id, score=5, comment=None, idempotency_key="a-0")
    assert not isinstance(early.value, AlreadyRated)
    await harness.finish(ticket_id)
    await harness.backend.rate(ticket_id, score=4, comment=None, idempotency_key="a-1")
    with pytest.raises(AlreadyRated):
        await harness.backend.rate(ticket_id, score=2, comment=None, idempotency_key="a-2")


async def test_a_bad_rating_reopens_the_ticket(harness: Harness) -> None:
    if "rating" not in harness.backend.capabilities:
        pytest.skip("plain Open311 has no ratings (see the test above)")
    ticket_id = await harness.file()
    await harness.finish(ticket_id)

    rated = await harness.backend.rate(ticket_id, score=1, comment="没修好",
                                       idempotency_key="r-1")

    assert rated.status is TicketStatus.REOPENED and rated.rating == 1
    assert rated.history[-1].status is TicketStatus.REOPENED
    assert rated.history[-1].previous is TicketStatus.FINISHED


async def test_history_tells_the_closed_loop_in_order(harness: Harness) -> None:
    ticket_id = await harness.file()
    await harness.finish(ticket_id)

    ticket = await harness.backend.get(ticket_id)

    if "history" not in harness.backend.capabilities:
        assert ticket.history == ()
        return
    assert [c.status for c in ticket.history][-3:] == [
        TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS, TicketStatus.FINISHED,
    ]
    dispatched, working, finished = ticket.history[-3:]
    assert dispatched.department and dispatched.department == ticket.department
    assert working.previous is TicketStatus.DISPATCHED
    assert finished.previous is TicketStatus.IN_PROGRESS
    assert finished.note == ANSWER
    assert [c.at for c in ticket.history] == sorted(c.at for c in ticket.history)


async def test_status_webhooks_reach_the_bots_receiver(harness: Harness) -> None:
    if "webhooks" not in harness.backend.capabilities:
        pytest.skip("plain Open311 has no webhooks: the bot polls it")
    assert harness.service is not None
    received: list[tuple[StatusChange, str]] = []

    async def on_change(change: StatusChange, delivery_id: str) -> None:
        received.append((change, delivery_id))

    receiver = build_status_webhook(secret=WEBHOOK_SECRET, on_change=on_change)
    ticket_id = await harness.file()
    await harness.finish(ticket_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        dispatcher = WebhookDispatcher(harness.service.db, http, secret=WEBHOOK_SECRET)
        while await dispatcher.run_once():
            pass

    assert [change.status for change, _ in received] == [
        TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS, TicketStatus.FINISHED,
    ]
    assert len({delivery for _, delivery in received}) == 3
    last = received[-1][0]
    assert last.ticket_id == ticket_id
    assert last.note == ANSWER
    assert last.previous is TicketStatus.IN_PROGRESS
    assert last.department == (await harness.backend.get(ticket_id)).department
