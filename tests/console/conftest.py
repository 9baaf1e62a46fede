"""Fixtures for the console tests: the console router on a real HandoffDesk over a
migrated SQLite database (PostgreSQL with ``MINHU_TEST_DATABASE=postgres``), real
staff accounts (quick argon2id), a settable clock, and a recording Tickets port.

The whole system (ingest, dispatcher, simulator) is not needed to drive the
console; ``tests/console/test_system.py`` goes through it once end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bot.errors import TicketNotFound
from bot.handoff import HandoffDesk
from bot.ports import SubmissionState, SubmitResult, TicketRecord
from bot.types import (
    Channel,
    ConversationKey,
    InboundMessage,
    Ticket,
    TicketDraft,
    TicketStatus,
)
from integrations.console.auth import ConsoleAuth, console_signer
from integrations.console.quick_replies import load_quick_replies
from integrations.console.web import ConsoleConfig, build_console
from integrations.staff.accounts import StaffAccounts
from integrations.staff.throttle import SignInThrottle
from integrations.storage import Storage, build_storage
from tests.staff.conftest import QUICK_HASHER, SECRET, FakeClock, database

RESIDENT = ConversationKey(Channel.WECHAT, "gh_console_test", "oResident0000000000000001")
OTHER_RESIDENT = ConversationKey(Channel.TELEGRAM, "7000000001", "424242")

# username, password, role, display name
STAFF: tuple[tuple[str, str, str, str], ...] = (
    ("agent1", "agent1-password", "agent", "坐席小王"),
    ("agent2", "agent2-password", "agent", "坐席小李"),
    ("lead1", "lead1-password", "supervisor", "值班长老张"),
    ("disp", "disp-password", "dispatcher", "调度员"),
    ("admin", "admin-password", "admin", "管理员"),
    ("dept", "dept-password", "department", "住建委"),
)
PASSWORDS = {username: password for username, password, _, _ in STAFF}


class RecordingSubmitter:
    """Takes the desk's HANDOFF events (the ingest would run them as turns)."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object:
        self.messages.append(message)
        return None


@dataclass
class FakeTickets:
    """The Tickets port: files at once with the next number, remembers per resident."""

    clock: FakeClock
    records: list[TicketRecord] = field(default_factory=list)
    filed: list[tuple[ConversationKey, TicketDraft, str]] = field(default_factory=list)
    queue_only: bool = False
    # Supplements added: (resident, ticket id, text, submission id).
    supplements: list[tuple[ConversationKey, str, str, str]] = field(default_factory=list)
    # Status changes made by the department since filing, by ticket id.
    statuses: dict[str, TicketStatus] = field(default_factory=dict)
    supplement_error: Exception | None = None

    async def submit(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str
    ) -> SubmitResult:
        for record in self.records:
            if record.submission_id == submission_id:
                return SubmitResult(record=record, ticket_id=record.ticket_id, repeated=True)
        self.filed.append((key, draft, submission_id))
        ticket_id = None if self.queue_only else f"MH20260302{len(self.records) + 1:04d}"
        record = TicketRecord(
            submission_id=submission_id, key=key, draft=draft,
            state=SubmissionState.PENDING if ticket_id is None else SubmissionState.FILED,
            created_at=self.clock(), ticket_id=ticket_id,
            status=None if ticket_id is None else TicketStatus.ACCEPTED,
        )
        self.records.append(record)
        return SubmitResult(record=record, ticket_id=ticket_id)

    async def mine(self, key: ConversationKey, *, limit: int = 10) -> list[TicketRecord]:
        return [
            replace(r, status=self.statuses.get(r.ticket_id or "", r.status))
            for r in reversed(self.records) if r.key == key
        ][:limit]

    def _own(self, key: ConversationKey, ticket_id: str) -> TicketRecord:
        for record in self.records:
            if record.ticket_id == ticket_id and record.key == key:
                return record
        raise TicketNotFound(f"no ticket {ticket_id} for this resident")

    def _ticket(self, record: TicketRecord) -> Ticket:
        assert record.ticket_id is not None
        status = self.statuses.get(record.ticket_id, record.status or TicketStatus.ACCEPTED)
        return Ticket(ticket_id=record.ticket_id, draft=record.draft, status=status,
                      created_at=record.created_at)

    async def lookup(self, key: ConversationKey, ticket_id: str) -> Ticket | None:
        try:
            return self._ticket(self._own(key, ticket_id))
        except TicketNotFound:
            return None

    async def supplement(
        self, key: ConversationKey, ticket_id: str, *, text: str, photos: Sequence[str],
        submission_id: str,
    ) -> Ticket:
        """Idempotent by ``submission_id``, like the ticket systems behind the port."""
        record = self._own(key, ticket_id)
        if self.supplement_error is not None:
            raise self.supplement_error
        if all(s != submission_id for _, _, _, s in self.supplements):
            self.supplements.append((key, ticket_id, text, submission_id))
        return self._ticket(record)


@dataclass
class Console:
    app: FastAPI
    desk: HandoffDesk
    storage: Storage
    accounts: StaffAccounts
    tickets: FakeTickets
    events: RecordingSubmitter
    clock: FakeClock
    config: ConsoleConfig

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://console.test"
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Storage]:
    async with database(tmp_path) as (url, search_path):
        store = build_storage(url, search_path=search_path, clock=clock)
        await store.migrate()
        try:
            yield store
        finally:
            await store.close()


@pytest.fixture
async def console(storage: Storage, clock: FakeClock) -> Console:
    assert storage.database is not None
    accounts = StaffAccounts(storage.database, clock=clock, hasher=QUICK_HASHER)
    for username, password, role, name in STAFF:
        await accounts.add(
            username, password, display_name=name, role=role,
            department_code="D-CG" if role == "department" else None,
        )
    events = RecordingSubmitter()
    desk = HandoffDesk(
        store=storage.handoff, windows=storage.windows, events=events, clock=clock,
    )
    tickets = FakeTickets(clock)
    config = ConsoleConfig(
        sla_amber_seconds=120, sla_red_seconds=300, heartbeat_seconds=0.5, poll_seconds=30,
        stream_seconds=30, quick_replies=load_quick_replies(),
    )
    auth = ConsoleAuth(
        accounts, console_signer(SECRET, secure=False),
        SignInThrottle(storage.database, clock=clock),
    )
    app = FastAPI()
    app.include_router(build_console(desk, tickets, auth, config=config, clock=clock))
    return Console(app, desk, storage, accounts, tickets, events, clock, config)


@pytest.fixture
async def agent(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    """agent1, signed in."""
    from tests.console.support import sign_in

    async with console.client() as client:
        response = await sign_in(client, "agent1")
        assert response.status_code == 303, response.text
        yield client
