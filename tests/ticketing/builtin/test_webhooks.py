"""Status webhooks: queued with the change, signed, retried under one delivery
id with backoff, sent once, in order per ticket, and shared safely by replicas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.types import TicketStatus
from integrations.storage import Storage, build_storage
from integrations.ticketing.builtin.catalogue import Catalogue
from integrations.ticketing.builtin.service import WorkOrder, WorkOrderService
from integrations.ticketing.builtin.webhooks import WebhookDispatcher
from integrations.ticketing.signing import DELIVERY_HEADER, verify
from tests.support import database

from .support import WEBHOOK_SECRET, WEBHOOK_URL, FakeClock, Receiver, filing

S = TicketStatus
BODY_KEYS = {
    "event", "delivery_id", "service_request_id", "status", "previous", "open311_status",
    "note", "department", "department_code", "adopted", "at",
}


def _dispatcher(storage: Storage, receiver: Receiver, clock: FakeClock, **options: Any) -> Any:
    assert storage.database is not None
    return WebhookDispatcher(
        storage.database, receiver.client(), secret=WEBHOOK_SECRET, clock=clock, **options
    )


async def _dispatched(service: WorkOrderService) -> WorkOrder:
    order, _ = await service.file(filing(), idempotency_key=None)
    return await service.transition(order.ticket_id, S.DISPATCHED, actor="派单员")


async def _webhook_rows(storage: Storage) -> list[Any]:
    assert storage.engine is not None
    async with storage.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT delivery_id, status, attempts FROM workorder_webhooks ORDER BY id")
        )
        return list(result)


async def test_a_status_change_is_posted_signed_with_the_agreed_body(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver()
    dispatcher = _dispatcher(storage, receiver, clock)
    order, _ = await service.file(filing(), idempotency_key=None)
    assert await dispatcher.run_once() == 0  # filing itself (受理) is not announced
    await service.transition(order.ticket_id, S.DISPATCHED, actor="派单员", note="请尽快处理")
    assert await dispatcher.run_once() == 1
    [request] = receiver.requests
    assert str(request.url) == WEBHOOK_URL
    assert request.headers["content-type"].startswith("application/json")
    delivery_id = verify(WEBHOOK_SECRET, request.headers, request.content)
    body = json.loads(request.content.decode("utf-8"))
    assert set(body) == BODY_KEYS
    assert body["delivery_id"] == delivery_id == request.headers[DELIVERY_HEADER]
    assert body["event"] == "status_changed"
    assert body["service_request_id"] == order.ticket_id
    assert (body["status"], body["previous"], body["open311_status"]) == ("已派单", "受理", "open")
    assert body["note"] == "请尽快处理"
    assert (body["department"], body["department_code"]) == (
        "示范区住房和城乡建设局", "housing_construction"
    )
    assert body["adopted"] is None
    at = datetime.fromisoformat(body["at"])
    assert at.utcoffset() is not None and at == clock.now
    assert "已派单" in request.content.decode("utf-8")  # UTF-8, not \\u escapes
    assert await dispatcher.run_once() == 0  # nothing is sent twice


async def test_a_finished_suggestion_announces_whether_it_was_adopted(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver()
    dispatcher = _dispatcher(storage, receiver, clock)
    order, _ = await service.file(filing(request_type="suggest"), idempotency_key=None)
    await service.transition(
        order.ticket_id, S.FINISHED, actor="部门", note="已采纳，明年实施", adopted=True
    )
    await dispatcher.run_once()
    [body] = receiver.bodies()
    assert (body["status"], body["open311_status"], body["adopted"]) == ("已办结", "closed", True)


async def test_a_failed_delivery_is_retried_with_backoff_under_the_same_id(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver(statuses=[500, 0, 200])
    dispatcher = _dispatcher(storage, receiver, clock)
    await _dispatched(service)
    assert await dispatcher.run_once() == 1  # HTTP 500
    clock.advance(seconds=1.9)
    assert await dispatcher.run_once() == 0  # not due before the first 2 s
    clock.advance(seconds=0.1)
    assert await dispatcher.run_once() == 1  # connection refused
    clock.advance(seconds=3.9)
    assert await dispatcher.run_once() == 0  # the delay doubled to 4 s
    clock.advance(seconds=0.1)
    assert await dispatcher.run_once() == 1  # delivered
    ids = {r.headers[DELIVERY_HEADER] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert len({r.content for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert verify(WEBHOOK_SECRET, request.headers, request.content) in ids
    clock.advance(hours=1)
    assert await dispatcher.run_once() == 0
    assert [(row.status, row.attempts) for row in await _webhook_rows(storage)] == [("sent", 3)]


async def test_a_delivery_that_keeps_failing_is_given_up(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver(statuses=[503] * 10)
    dispatcher = _dispatcher(storage, receiver, clock, max_attempts=3)
    await _dispatched(service)
    for _ in range(5):
        await dispatcher.run_once()
        clock.advance(minutes=10)
    assert len(receiver.requests) == 3
    assert [(row.status, row.attempts) for row in await _webhook_rows(storage)] == [("dead", 3)]


async def test_changes_to_one_ticket_are_delivered_in_order(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver(statuses=[500])
    dispatcher = _dispatcher(storage, receiver, clock)
    order = await _dispatched(service)
    other = await _dispatched(service)
    await service.transition(order.ticket_id, S.IN_PROGRESS, actor="部门")
    # The first change of `order` fails; its next one waits, the other ticket does not.
    await dispatcher.run_once()
    assert [(b["service_request_id"], b["status"]) for b in receiver.bodies()] == [
        (order.ticket_id, "已派单"), (other.ticket_id, "已派单")
    ]
    clock.advance(seconds=2)
    await dispatcher.run_once()
    await dispatcher.run_once()
    assert [(b["service_request_id"], b["status"]) for b in receiver.bodies()][2:] == [
        (order.ticket_id, "已派单"), (order.ticket_id, "办理中")
    ]


async def test_withdrawal_and_a_reopening_rating_are_announced(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver()
    dispatcher = _dispatcher(storage, receiver, clock)
    first, _ = await service.file(filing(), idempotency_key=None)
    await service.withdraw(first.ticket_id, reason="不需要了", actor="市民", idempotency_key="w")
    second, _ = await service.file(filing(), idempotency_key=None)
    await service.transition(second.ticket_id, S.FINISHED, actor="部门", note="已处理")
    await service.rate(second.ticket_id, score=1, comment=None, idempotency_key="r")
    assert await dispatcher.run_once() == 2  # 重办 waits for 已办结 of the same ticket
    assert await dispatcher.run_once() == 1
    assert [(b["service_request_id"], b["status"]) for b in receiver.bodies()] == [
        (first.ticket_id, "已撤回"), (second.ticket_id, "已办结"), (second.ticket_id, "重办")
    ]
    assert "非常不满意" in receiver.bodies()[2]["note"]


async def test_without_a_webhook_url_nothing_is_queued(
    storage: Storage, catalogue: Catalogue, clock: FakeClock
) -> None:
    assert storage.database is not None
    quiet = WorkOrderService(storage.database, catalogue, clock=clock, webhook_url=None,
                             webhook_secret="")
    order, _ = await quiet.file(filing(), idempotency_key=None)
    await quiet.transition(order.ticket_id, S.DISPATCHED, actor="派单员")
    assert await _webhook_rows(storage) == []
    with pytest.raises(ValueError):
        WorkOrderService(storage.database, catalogue, clock=clock, webhook_url=WEBHOOK_URL,
                         webhook_secret="")


async def test_the_loop_wakes_up_when_kicked(
    service: WorkOrderService, storage: Storage, clock: FakeClock
) -> None:
    receiver = Receiver()
    dispatcher = _dispatcher(storage, receiver, clock)
    service.on_webhook_queued = dispatcher.kick
    stop = asyncio.Event()
    loop = asyncio.create_task(dispatcher.run(stop, idle_poll_seconds=60))
    try:
        await asyncio.sleep(0.05)  # the loop found nothing and sleeps for a minute
        await _dispatched(service)
        await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
    finally:
        stop.set()  # ends the loop at once, without waiting for the next poll
        await asyncio.wait_for(loop, timeout=5)
    assert receiver.bodies()[0]["status"] == "已派单"


# -- replicas -------------------------------------------------------------------------


@pytest.fixture
async def replicas(tmp_path: Path, clock: FakeClock) -> AsyncIterator[list[Storage]]:
    """Two storages (two replicas) over one migrated database."""
    async with database(tmp_path) as (url, search_path):
        opened = [build_storage(url, search_path=search_path, clock=clock) for _ in range(2)]
        await opened[0].migrate()
        try:
            yield opened
        finally:
            for storage in opened:
                await storage.close()


async def test_replicas_never_send_the_same_webhook_concurrently(
    replicas: list[Storage], catalogue: Catalogue, clock: FakeClock
) -> None:
    assert replicas[0].database is not None
    service = WorkOrderService(replicas[0].database, catalogue, clock=clock,
                               webhook_url=WEBHOOK_URL, webhook_secret=WEBHOOK_SECRET)
    for _ in range(12):
        await _dispatched(service)
    receiver = Receiver()
    one = _dispatcher(replicas[0], receiver, clock, batch=5)
    two = _dispatcher(replicas[1], receiver, clock, batch=5)
    for _ in range(4):
        await asyncio.gather(one.run_once(), two.run_once())
    ids = [r.headers[DELIVERY_HEADER] for r in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12


async def test_a_lease_left_by_a_crashed_replica_runs_out_and_another_sends_it(
    replicas: list[Storage], catalogue: Catalogue, clock: FakeClock
) -> None:
    assert replicas[0].database is not None
    service = WorkOrderService(replicas[0].database, catalogue, clock=clock,
                               webhook_url=WEBHOOK_URL, webhook_secret=WEBHOOK_SECRET)
    await _dispatched(service)
    receiver = Receiver()
    crashed = _dispatcher(replicas[0], receiver, clock, lease_seconds=60)
    survivor = _dispatcher(replicas[1], receiver, clock)
    assert len(await crashed._claim()) == 1  # claimed, then the replica died
    assert await survivor.run_once() == 0
    clock.advance(seconds=61)
    assert await survivor.run_once() == 1
    assert len(receiver.requests) == 1
