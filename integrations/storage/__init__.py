"""Durable storage for minhu: SQLAlchemy 2.0 async + Alembic.

SQLite (``sqlite+aiosqlite:///var/minhu.db``) by default, PostgreSQL
(``postgresql+asyncpg://...``) for several replicas; both behave the same,
and so do the in-memory implementations used by fast unit tests::

    storage = build_storage(settings.database_url)
    await storage.migrate()
    ... storage.journal, storage.conversations, storage.outbox,
        storage.windows, storage.tokens, storage.health ...
    await storage.close()
"""

from integrations.storage.bundle import (
    MEMORY_URL,
    Storage,
    build_storage,
    memory_storage,
    sql_storage,
)
from integrations.storage.engine import create_engine, sqlite_sync_engine
from integrations.storage.memory import (
    MemoryConversationStore,
    MemoryDatabase,
    MemoryDeliveryQueue,
    MemoryHealth,
    MemoryInboundJournal,
    MemoryReplyWindows,
    MemoryTokenStore,
)
from integrations.storage.migrate import downgrade, upgrade, upgrade_sync
from integrations.storage.repositories import (
    MAX_RECOVERY_ATTEMPTS,
    Database,
    DatabaseHealth,
    SqlConversationStore,
    SqlDeliveryQueue,
    SqlInboundJournal,
    SqlReplyWindows,
    SqlTokenStore,
)

__all__ = [
    "MAX_RECOVERY_ATTEMPTS",
    "MEMORY_URL",
    "Database",
    "DatabaseHealth",
    "MemoryConversationStore",
    "MemoryDatabase",
    "MemoryDeliveryQueue",
    "MemoryHealth",
    "MemoryInboundJournal",
    "MemoryReplyWindows",
    "MemoryTokenStore",
    "SqlConversationStore",
    "SqlDeliveryQueue",
    "SqlInboundJournal",
    "SqlReplyWindows",
    "SqlTokenStore",
    "Storage",
    "build_storage",
    "create_engine",
    "downgrade",
    "memory_storage",
    "sql_storage",
    "sqlite_sync_engine",
    "upgrade",
    "upgrade_sync",
]
