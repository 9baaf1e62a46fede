"""Fixtures: a migrated database (SQLite, or a fresh PostgreSQL schema with
``MINHU_TEST_DATABASE=postgres``) and the work-order service over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.storage import Storage, build_storage
from integrations.ticketing.builtin.catalogue import Catalogue, load_catalogue
from integrations.ticketing.builtin.service import WorkOrderService
from tests.support import database

from .support import WEBHOOK_SECRET, WEBHOOK_URL, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Storage]:
    async with database(tmp_path) as (url, search_path):
        storage = build_storage(url, search_path=search_path, clock=clock)
        await storage.migrate()
        try:
            yield storage
        finally:
            await storage.close()


@pytest.fixture
def service(storage: Storage, catalogue: Catalogue, clock: FakeClock) -> WorkOrderService:
    assert storage.database is not None
    return WorkOrderService(
        storage.database, catalogue, clock=clock,
        webhook_url=WEBHOOK_URL, webhook_secret=WEBHOOK_SECRET,
    )
