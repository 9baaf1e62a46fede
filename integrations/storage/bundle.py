"""One object holding the engine and every storage port, for the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import (
    ConversationStore,
    DeliveryQueue,
    HandoffStore,
    HealthCheck,
    InboundJournal,
    ReplyWindows,
    TicketLedger,
    TokenStore,
)
from integrations.storage.codec import utc_now
from integrations.storage.engine import create_engine
from integrations.storage.handoff import MemoryHandoffStore, SqlHandoffStore
from integrations.storage.ledger import MemoryTicketLedger, SqlTicketLedger
from integrations.storage.memory import (
    MemoryConversationStore,
    MemoryDatabase,
    MemoryDeliveryQueue,
    MemoryHealth,
    MemoryInboundJournal,
    MemoryReplyWindows,
    MemoryTokenStore,
)
from integrations.storage.migrate import upgrade
from integrations.storage.repositories import (
    Database,
    DatabaseHealth,
    SqlConversationStore,
    SqlDeliveryQueue,
    SqlInboundJournal,
    SqlReplyWindows,
    SqlTokenStore,
)

__all__ = ["MEMORY_URL", "Storage", "build_storage", "memory_storage", "sql_storage"]

MEMORY_URL = "memory://"


@dataclass(eq=False)
class Storage:
    """Every storage port, built over one engine (or one in-memory database)."""

    url: str
    journal: InboundJournal
    conversations: ConversationStore
    outbox: DeliveryQueue
    windows: ReplyWindows
    tokens: TokenStore
    health: HealthCheck
    tickets: TicketLedger
    handoff: HandoffStore
    engine: AsyncEngine | None = None
    database: Database | None = None

    async def migrate(self) -> None:
        """Bring the schema up to date (no-op in memory)."""
        if self.engine is not None:
            await upgrade(self.url, engine=self.engine)

    async def close(self) -> None:
        """Finish the queued units of work (SQLite), then release the connections."""
        if self.database is not None:
            await self.database.close()
        if self.engine is not None:
            await self.engine.dispose()


def memory_storage(*, clock: Callable[[], datetime] = utc_now) -> Storage:
    db = MemoryDatabase(clock=clock)
    return Storage(
        url=MEMORY_URL,
        journal=MemoryInboundJournal(db),
        conversations=MemoryConversationStore(db),
        outbox=MemoryDeliveryQueue(db),
        windows=MemoryReplyWindows(db),
        tokens=MemoryTokenStore(db),
        health=MemoryHealth(),
        tickets=MemoryTicketLedger(clock=clock),
        handoff=MemoryHandoffStore(db),
    )


def sql_storage(
    engine: AsyncEngine,
    *,
    url: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    group_commit: bool | None = None,
) -> Storage:
    """Storage over an existing engine.

    On SQLite every unit of work runs on one writer thread; ``group_commit``
    (default on) lets it commit the units queued meanwhile in one transaction.
    It has no effect on PostgreSQL.
    """
    db = Database(engine, clock=clock, group_commit=group_commit)
    return Storage(
        url=url or engine.url.render_as_string(hide_password=False),
        journal=SqlInboundJournal(db),
        conversations=SqlConversationStore(db),
        outbox=SqlDeliveryQueue(db),
        windows=SqlReplyWindows(db),
        tokens=SqlTokenStore(db),
        health=DatabaseHealth(db),
        tickets=SqlTicketLedger(db),
        handoff=SqlHandoffStore(db),
        engine=engine,
        database=db,
    )


def build_storage(
    url: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    group_commit: bool | None = None,
    search_path: str | None = None,
    pool_size: int = 10,
) -> Storage:
    """Storage for ``url``: ``memory://``, ``sqlite+aiosqlite:///path.db`` or
    ``postgresql+asyncpg://...``. Call ``await storage.migrate()`` before use
    and ``await storage.close()`` on shutdown."""
    if url == MEMORY_URL or url.startswith("memory:"):
        return memory_storage(clock=clock)
    engine = create_engine(url, search_path=search_path, pool_size=pool_size)
    return sql_storage(engine, url=url, clock=clock, group_commit=group_commit)
