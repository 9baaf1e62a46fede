"""Backends for the storage contract suite: memory, SQLite and (optionally) PostgreSQL.

PostgreSQL runs when ``MINHU_TEST_POSTGRES_URL`` is set (``scripts/pg-test.sh``
starts a throwaway server and prints the URL). Each test session migrates a
fresh schema of its own, dropped at the end; each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from integrations.storage import (
    MemoryDatabase,
    Storage,
    create_engine,
    upgrade,
)
from integrations.storage.bundle import sql_storage
from integrations.storage.handoff import MemoryHandoffStore
from integrations.storage.ledger import MemoryTicketLedger
from integrations.storage.memory import (
    MemoryConversationStore,
    MemoryDeliveryQueue,
    MemoryHealth,
    MemoryInboundJournal,
    MemoryReplyWindows,
    MemoryTokenStore,
)

POSTGRES_ENV = "MINHU_TEST_POSTGRES_URL"
TABLES = (
    "conversations", "inbound_messages", "deliveries", "reply_windows", "tokens",
    "resident_tickets", "handoff_cases", "handoff_history", "handoff_audit",
)


class FakeClock:
    """A settable UTC clock shared by every storage object of one test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 6, 1, 8, 30, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Backend:
    """Makes storage objects over one database; ``replica()`` simulates another replica."""

    name: str
    clock: FakeClock
    url: str | None = None
    search_path: str | None = None
    memory: MemoryDatabase | None = None
    opened: list[Storage] = field(default_factory=list)
    memory_ledger: MemoryTicketLedger | None = None

    def replica(self, *, group_commit: bool | None = None) -> Storage:
        if self.memory is not None:
            db = self.memory
            storage = Storage(
                url="memory://",
                journal=MemoryInboundJournal(db),
                conversations=MemoryConversationStore(db),
                outbox=MemoryDeliveryQueue(db),
                windows=MemoryReplyWindows(db),
                tokens=MemoryTokenStore(db),
                health=MemoryHealth(),
                tickets=self._memory_ledger(),
                handoff=MemoryHandoffStore(db),
            )
        else:
            assert self.url is not None
            engine = create_engine(self.url, search_path=self.search_path)
            storage = sql_storage(engine, url=self.url, clock=self.clock, group_commit=group_commit)
        self.opened.append(storage)
        return storage

    def _memory_ledger(self) -> MemoryTicketLedger:
        # Replicas in memory share one ledger, as SQL replicas share tables.
        if self.memory_ledger is None:
            self.memory_ledger = MemoryTicketLedger(clock=self.clock)
        return self.memory_ledger

    @property
    def is_sql(self) -> bool:
        return self.memory is None

    async def close(self) -> None:
        for storage in self.opened:
            await storage.close()


def _postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


async def _create_pg_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await admin.dispose()
    engine = create_engine(url, search_path=schema)
    try:
        await upgrade(url, engine=engine)
    finally:
        await engine.dispose()


async def _drop_pg_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A freshly migrated schema for this test session: (url, schema)."""
    url = _postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV} (see scripts/pg-test.sh)")
    schema = f"minhu_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_pg_schema(url, schema))
    try:
        yield url, schema
    finally:
        asyncio.run(_drop_pg_schema(url, schema))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pg_target(request: pytest.FixtureRequest, backend_name: str) -> tuple[str, str] | None:
    """The session's PostgreSQL schema (set up outside the test's event loop)."""
    if backend_name != "postgres":
        return None
    target: tuple[str, str] = request.getfixturevalue("postgres_schema")
    return target


@pytest.fixture
async def backend(
    backend_name: str,
    pg_target: tuple[str, str] | None,
    clock: FakeClock,
    tmp_path: Path,
) -> AsyncIterator[Backend]:
    if backend_name == "memory":
        b = Backend("memory", clock, memory=MemoryDatabase(clock=clock))
    elif backend_name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'minhu.db'}"
        await upgrade(url)
        b = Backend("sqlite", clock, url=url)
    else:
        assert pg_target is not None
        url, schema = pg_target
        engine = create_engine(url, search_path=schema)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
        finally:
            await engine.dispose()
        b = Backend("postgres", clock, url=url, search_path=schema)
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
def storage(backend: Backend) -> Storage:
    return backend.replica()
