"""Running the Alembic migrations programmatically.

The script location is this package's ``migrations`` directory, so this
works from an installed package and from any working directory; no
``alembic.ini`` is needed::

    await upgrade("sqlite+aiosqlite:///var/minhu.db")
    upgrade_sync("postgresql+asyncpg://minhu@127.0.0.1:55432/minhu")
    python -m integrations.storage.migrate URL [REVISION]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.storage.engine import create_engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "downgrade", "upgrade", "upgrade_sync"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def _run(
    database_url: str,
    revision: str,
    *,
    engine: AsyncEngine | None,
    down: bool,
) -> None:
    if engine is None and database_url.startswith("memory:"):
        return  # the in-memory storage has no schema
    config = alembic_config(database_url)
    own = engine is None
    engine = engine or create_engine(database_url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        if own:
            await engine.dispose()


async def upgrade(
    database_url: str, revision: str = "head", *, engine: AsyncEngine | None = None
) -> None:
    """Bring the database at ``database_url`` up to ``revision`` (default: the latest).

    ``engine``, when given, is used instead of a new one (e.g. one whose
    PostgreSQL ``search_path`` points at a test schema); it is not disposed.
    """
    await _run(database_url, revision, engine=engine, down=False)


async def downgrade(database_url: str, revision: str, *, engine: AsyncEngine | None = None) -> None:
    await _run(database_url, revision, engine=engine, down=True)


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    """``upgrade`` for code without a running event loop (CLIs, deploy hooks)."""
    asyncio.run(upgrade(database_url, revision))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m integrations.storage.migrate DATABASE_URL [REVISION]")
        return 0 if args else 2
    upgrade_sync(args[0], args[1] if len(args) > 1 else "head")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
