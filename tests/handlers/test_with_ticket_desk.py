"""The handlers over the real ticket desk and ledger (only the backend is a fake):
what the resident hears when filing works, when it is deferred, and as it progresses."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.delivery import Backoff
from bot.dispatcher import Dispatcher
from bot.errors import BackendUnavailable, TicketNotFound
from bot.ingest import Ingest
from bot.ports import FilingReceipt
from bot.tickets import TicketDesk
from bot.types import StatusChange, Ticket, TicketDraft, TicketStatus
from handlers import build_handlers
from integrations.storage import memory_storage
from tests.handlers.fakes import FakeAlerts, FakeKnowledge
from tests.handlers.harness import (
    Conversation,
    FlakyStore,
    ScriptedUnderstanding,
    reading,
    scripted,
)

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Backend:
    """A work-order system in memory that honours idempotency keys."""

    clock: Clock
    down: bool = False
    tickets: dict[str, Ticket] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    name: str = "memory"
    capabilities: frozenset[str] = frozenset({"history", "supplement", "withdraw", "rating"})

    async def file(self, draft: TicketDraft, *, idempotency_key: str,
                   account_id: str) -> FilingReceipt:
        if self.down:
            raise BackendUnavailable("connection refused")
        ticket_id = self.by_key.setdefault(idempotency_key, f"MH20261123{len(self.by_key) + 1:04d}")
        self.tickets.setdefault(ticket_id, Ticket(
            ticket_id, draft, TicketStatus.ACCEPTED, self.clock(), department="区城管委",
            due_at=self.clock() + timedelta(days=1), updated_at=self.clock(),
        ))
        ticket = self.tickets[ticket_id]
        return FilingReceipt(ticket_id=ticket_id, department=ticket.department,
                             due_at=ticket.due_at)

    async def resolve_token(self, token: str) -> str | None:
        return None

    async def get(self, ticket_id: str) -> Ticket:
        if ticket_id not in self.tickets:
            raise TicketNotFound(ticket_id)
        return self.tickets[ticket_id]

    async def get_many(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        return [self.tickets[t] for t in ticket_ids if t in self.tickets]

    async def supplement(self, ticket_id: str, *, text: str, photos: Sequence[str],
                         idempotency_key: str) -> Ticket:
        return self.tickets[ticket_id]

    async def withdraw(self, ticket_id: str, *, reason: str, idempotency_key: str) -> Ticket:
        return self.move(ticket_id, TicketStatus.WITHDRAWN)

    async def rate(self, ticket_id: str, *, score: int, comment: str | None,
                   idempotency_key: str) -> Ticket:
        if score <= 2:
            return self.move(ticket_id, TicketStatus.REOPENED)
        return dataclasses.replace(self.tickets[ticket_id], rating=score)

    def move(self, ticket_id: str, status: TicketStatus, note: str | None = None) -> Ticket:
        self.clock.now += timedelta(minutes=5)
        ticket = dataclasses.replace(self.tickets[ticket_id], status=status,
                                     updated_at=self.clock(), status_note=note)
        self.tickets[ticket_id] = ticket
        return ticket


@dataclass
class Desk:
    chat: Conversation
    desk: TicketDesk
    backend: Backend
    clock: Clock


class _LateIngest:
    def __init__(self) -> None:
        self.target: Ingest | None = None

    async def submit(self, message: object, *, passive_budget: float | None) -> object:
        assert self.target is not None
        return await self.target.submit(message, passive_budget=passive_budget)  # type: ignore[arg-type]


def with_desk() -> Desk:
    clock = Clock()
    storage = memory_storage(clock=clock)
    backend = Backend(clock)
    alerts = FakeAlerts()
    events = _LateIngest()
    desk = TicketDesk(backend=backend, ledger=storage.tickets, events=events, alerts=alerts,
                      clock=clock, owner="test", inline_timeout=1.0,
                      backoff=Backoff(first=timedelta(seconds=10)))
    understanding = ScriptedUnderstanding(scripted({LAMP: reading("seek_help", "城乡建设")}))
    store = FlakyStore(storage.conversations)
    knowledge = FakeKnowledge()
    dispatcher = Dispatcher(
        store=store, understanding=understanding, clock=clock,
        handlers=build_handlers(tickets=desk, knowledge=knowledge, alerts=alerts),
    )
    ingest = Ingest(journal=storage.journal, store=store, outbox=storage.outbox,
                    dispatcher=dispatcher, owner="test", lease_seconds=30)
    events.target = ingest
    chat = Conversation(storage, understanding, ingest, store, None, alerts,  # type: ignore[arg-type]
                        knowledge)
    return Desk(chat, desk, backend, clock)


async def fill_in(chat: Conversation) -> None:
    await chat.say(LAMP)
    await chat.say("13812345678")
    await chat.say("没有")


async def test_filing_through_the_desk_tells_the_number_department_and_deadline() -> None:
    setup = with_desk()
    await fill_in(setup.chat)
    filed = await setup.chat.say("确认")
    assert filed.text == (
        "已为您登记，工单编号MH202611230001，由区城管委承办，"
        "预计11月24日 10:00前答复。办理进展会在这里通知您。"
    )
    listing = await setup.chat.press("MENU_MY_TICKETS")
    assert "MH202611230001 求助" in listing.text and "受理" in listing.text


async def test_a_deferred_filing_is_announced_when_the_worker_files_it() -> None:
    setup = with_desk()
    setup.backend.down = True
    await fill_in(setup.chat)
    queued = await setup.chat.say("确认")
    assert queued.text == "您的诉求已收到，正在登记，工单编号稍后发给您。"
    listing = await setup.chat.press("MENU_MY_TICKETS")
    assert "编号待发" in listing.text and "登记中" in listing.text
    setup.backend.down = False
    setup.clock.now += timedelta(minutes=1)
    assert await setup.desk.file_due() == 1
    await setup.chat.ingest.drain()
    (pushed,) = await setup.chat.pushed()
    assert pushed.text.startswith("您的诉求已登记，工单编号MH202611230001。")


async def test_progress_from_the_desk_reaches_the_resident_and_the_rating_goes_back() -> None:
    setup = with_desk()
    await fill_in(setup.chat)
    await setup.chat.say("确认")
    ticket = setup.backend.move("MH202611230001", TicketStatus.FINISHED, note="已修复。")
    change = StatusChange("MH202611230001", TicketStatus.FINISHED, ticket.updated_at or
                          setup.clock(), note="已修复。", department="区城管委")
    assert await setup.desk.status_changed(change, event_id="finished-1")
    await setup.chat.ingest.drain()
    (pushed,) = await setup.chat.pushed()
    assert "答复：已修复。" in pushed.text and len(pushed.buttons) == 5
    sorry = await setup.chat.press(pushed.buttons[4].payload, "非常不满意")
    assert "重新办理（重办）" in sorry.text
    assert [a.kind for a in setup.chat.alerts.sent] == ["bad_rating"]
    again = await setup.chat.press(pushed.buttons[0].payload, "非常满意")
    assert again.text == "每件诉求只能评价一次，您已评价过。"
