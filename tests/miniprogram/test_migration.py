"""The 0005_miniprogram migration: matches the models, and goes down and up again cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from integrations.storage import create_engine, downgrade, upgrade
from integrations.storage.all_models import Base
from tests.support import database

MP_TABLES = {"mp_users", "mp_consents", "mp_inbox", "mp_media"}


def _mentions_ours(difference: Any) -> bool:
    return any(table in repr(difference) for table in MP_TABLES)


async def test_the_mini_program_tables_match_the_models_and_downgrade(tmp_path: Path) -> None:
    async with database(tmp_path) as (url, search_path):
        engine = create_engine(url, search_path=search_path)
        try:
            await upgrade(url, engine=engine)

            def differences(conn: Connection) -> list[Any]:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                return [d for d in compare_metadata(context, Base.metadata) if _mentions_ours(d)]

            def tables(conn: Connection) -> set[str]:
                return set(inspect(conn).get_table_names())

            async with engine.connect() as conn:
                assert await conn.run_sync(differences) == []
                assert await conn.run_sync(tables) >= MP_TABLES
            await downgrade(url, "0004_ticket_ledger", engine=engine)
            async with engine.connect() as conn:
                assert not MP_TABLES & await conn.run_sync(tables)
            await upgrade(url, engine=engine)
            async with engine.connect() as conn:
                assert await conn.run_sync(tables) >= MP_TABLES
        finally:
            await engine.dispose()
