"""Filing: ticket numbers, routing and deadlines, idempotency (also under
concurrency), urgent alerts, input checks and searching."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

import pytest

from bot.types import TicketStatus
from integrations.ticketing.builtin.service import (
    EventKind,
    InvalidFiling,
    UnknownService,
    WorkOrderService,
)

from .support import FakeClock, filing

TICKET_ID = re.compile(r"^MH\d{8}\d{4}$")


async def test_a_filing_is_accepted_routed_and_given_a_deadline(
    service: WorkOrderService, clock: FakeClock
) -> None:
    order, created = await service.file(filing(), idempotency_key="k1")
    assert created
    assert TICKET_ID.match(order.ticket_id)
    assert order.ticket_id == "MH202611230001"
    assert order.status is TicketStatus.ACCEPTED
    assert order.open311_status == "open"
    assert (order.department_code, order.department_name) == (
        "housing_construction", "示范区住房和城乡建设局"
    )
    assert order.due_at == clock.now + timedelta(days=7)
    assert order.requested_at == order.updated_at == clock.now
    assert order.service_name == order.category == "城乡建设"
    assert order.media_urls == ("https://img.example.test/lamp.jpg",)
    assert order.phone == "13812345678" and order.account_id == "mh-resident-0001"
    assert len(order.token) >= 32
    assert await service.get(order.ticket_id) == order
    assert await service.get_by_token(order.token) == order
    history = await service.history(order.ticket_id)
    assert [(e.kind, e.status, e.previous) for e in history] == [
        (EventKind.STATUS, TicketStatus.ACCEPTED, None)
    ]
    assert await service.get("MH209901010001") is None
    assert await service.get_by_token("no-such-token") is None


async def test_ticket_numbers_count_per_local_day(
    service: WorkOrderService, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(hour=15, minute=59)  # 23:59 in Shanghai
    first, _ = await service.file(filing(), idempotency_key=None)
    second, _ = await service.file(filing(), idempotency_key=None)
    clock.advance(minutes=1)  # midnight in Shanghai, still the 23rd in UTC
    third, _ = await service.file(filing(), idempotency_key=None)
    assert [first.ticket_id, second.ticket_id, third.ticket_id] == [
        "MH202611230001", "MH202611230002", "MH202611240001"
    ]
    assert len({first.token, second.token, third.token}) == 3


async def test_the_same_idempotency_key_files_once(service: WorkOrderService) -> None:
    first, created = await service.file(filing(), idempotency_key="sub-1")
    again, created_again = await service.file(
        filing(description="改了说法再发一次"), idempotency_key="sub-1"
    )
    assert created and not created_again
    assert again == first
    assert len(await service.search()) == 1
    assert len(await service.history(first.ticket_id)) == 1
    # No number was used up by the repeat.
    other, _ = await service.file(filing(), idempotency_key="sub-2")
    assert other.ticket_id == "MH202611230002"


async def test_concurrent_filings_with_one_key_make_one_ticket(
    service: WorkOrderService,
) -> None:
    results = await asyncio.gather(
        *(service.file(filing(), idempotency_key="same-key") for _ in range(4))
    )
    assert len({order.ticket_id for order, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert len(await service.search()) == 1
    later, _ = await service.file(filing(), idempotency_key="next")
    assert later.ticket_id == "MH202611230002"


async def test_concurrent_filings_get_distinct_consecutive_numbers(
    service: WorkOrderService,
) -> None:
    results = await asyncio.gather(
        *(service.file(filing(), idempotency_key=f"key-{i}") for i in range(12))
    )
    numbers = sorted(order.ticket_id for order, _ in results)
    assert numbers == [f"MH20261123{i:04d}" for i in range(1, 13)]


async def test_an_urgent_filing_is_due_in_two_hours_and_alerts_staff(
    service: WorkOrderService, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="minhu.workorders")
    order, _ = await service.file(
        filing(urgent=True, description="楼道里有很浓的煤气味，电话13912345678"),
        idempotency_key="urgent-1",
    )
    assert order.urgent and order.due_at == clock.now + timedelta(hours=2)
    alerts = await service.alerts()
    assert [(a.ticket_id, a.kind) for a in alerts] == [(order.ticket_id, EventKind.ALERT)]
    assert "紧急" in (alerts[0].note or "")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and order.ticket_id in warnings[0].getMessage()
    assert "13912345678" not in caplog.text and "139****5678" in caplog.text


async def test_suggestions_and_consultations_get_their_own_deadlines(
    service: WorkOrderService, clock: FakeClock
) -> None:
    suggestion, _ = await service.file(filing(request_type="suggest"), idempotency_key=None)
    question, _ = await service.file(filing(request_type="consult"), idempotency_key=None)
    assert suggestion.due_at == clock.now + timedelta(days=15)
    assert question.due_at == clock.now + timedelta(hours=24)


async def test_the_place_decides_the_street_office_for_unclassified_requests(
    service: WorkOrderService,
) -> None:
    order, _ = await service.file(
        filing(service_code="other", category=None, address="望湖苑社区5栋楼下"),
        idempotency_key=None,
    )
    assert order.category == "其他"
    assert order.street == "东湖街道" and order.district == "示范区"
    assert order.department_code == "street_donghu"
    nowhere, _ = await service.file(
        filing(service_code="other", category=None, address="和平路12号"), idempotency_key=None
    )
    assert nowhere.department_code == "dispatch_centre"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"service_code": "potholes"}, UnknownService),
        ({"request_type": "gossip"}, InvalidFiling),
        ({"description": "   "}, InvalidFiling),
        ({"description": "长" * 4001}, InvalidFiling),
        ({"lat": 39.9, "long": None}, InvalidFiling),
        ({"lat": 200.0}, InvalidFiling),
        ({"long": float("nan")}, InvalidFiling),
        ({"phone": "1" * 40}, InvalidFiling),
        ({"media_urls": tuple(f"https://img.test/{i}.jpg" for i in range(21))}, InvalidFiling),
        ({"media_urls": ("https://img.test/a b.jpg",)}, InvalidFiling),
    ],
)
async def test_bad_filings_are_refused_and_leave_nothing_behind(
    service: WorkOrderService, changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        await service.file(filing(**changes), idempotency_key="bad")
    assert str(caught.value)  # a message to show
    assert await service.search() == []


async def test_a_description_of_exactly_4000_characters_is_accepted(
    service: WorkOrderService,
) -> None:
    order, _ = await service.file(filing(description="长" * 4000), idempotency_key=None)
    assert len(order.description) == 4000


async def test_search_puts_urgent_first_then_newest_and_filters(
    service: WorkOrderService, clock: FakeClock
) -> None:
    old, _ = await service.file(filing(), idempotency_key=None)
    clock.advance(hours=1)
    urgent, _ = await service.file(filing(urgent=True), idempotency_key=None)
    clock.advance(hours=1)
    env, _ = await service.file(
        filing(service_code="environment", category="环境保护"), idempotency_key=None
    )
    found = await service.search()
    assert [o.ticket_id for o in found] == [urgent.ticket_id, env.ticket_id, old.ticket_id]
    assert [o.ticket_id for o in await service.search(service_code="environment")] == [
        env.ticket_id
    ]
    assert [o.ticket_id for o in await service.search(department_code="ecology_environment")] == [
        env.ticket_id
    ]
    assert [
        o.ticket_id for o in await service.search(ticket_ids=[old.ticket_id, "MH000000000000"])
    ] == [old.ticket_id]
    await service.transition(old.ticket_id, TicketStatus.DISPATCHED, actor="派单员")
    dispatched = await service.search(statuses={TicketStatus.DISPATCHED})
    assert [o.ticket_id for o in dispatched] == [old.ticket_id]
    window = await service.search(
        start=old.requested_at + timedelta(minutes=30), end=env.requested_at - timedelta(minutes=1)
    )
    assert [o.ticket_id for o in window] == [urgent.ticket_id]
    assert len(await service.search(limit=2)) == 2
