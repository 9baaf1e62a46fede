"""Fixtures for the staff tests: a migrated database (SQLite, or PostgreSQL when
``MINHU_TEST_DATABASE=postgres``), a settable clock, and quick password hashing.

The database helper follows ``tests.support.database`` (same variables), without
importing the whole application that module builds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from integrations.staff.accounts import StaffAccounts
from integrations.staff.passwords import PasswordHasher
from integrations.staff.sessions import SessionSigner
from integrations.staff.throttle import SignInThrottle
from integrations.storage import Storage, build_storage, create_engine
from integrations.storage.repositories import Database

# Cheap enough for many sign-ins per test; production uses the default cost.
QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
SECRET = "test-secret-that-is-long-enough-for-hmac-0123456789"


@asynccontextmanager
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh database for one test: (url, PostgreSQL schema or None)."""
    if os.environ.get("MINHU_TEST_DATABASE") != "postgres":
        yield f"sqlite+aiosqlite:///{tmp_path / 'minhu.db'}", None
        return
    url = os.environ.get("MINHU_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError("MINHU_TEST_DATABASE=postgres needs MINHU_TEST_POSTGRES_URL")
    schema = f"staff_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url, schema
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Beijing

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


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
def db(storage: Storage) -> Database:
    assert storage.database is not None
    return storage.database


@pytest.fixture
def accounts(db: Database, clock: FakeClock) -> StaffAccounts:
    return StaffAccounts(db, clock=clock, hasher=QUICK_HASHER)


@pytest.fixture
def throttle(db: Database, clock: FakeClock) -> SignInThrottle:
    return SignInThrottle(db, clock=clock)


@pytest.fixture
def signer(clock: FakeClock) -> SessionSigner:
    return SessionSigner(SECRET, secure=False, clock=clock)
