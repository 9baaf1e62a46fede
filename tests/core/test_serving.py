"""What ``minhu serve`` adds around the app: a settled heap, one migration for N workers."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect

from bot.settings import Settings
from bot.wiring.app import create_app
from bot.wiring.cli import _migrate
from bot.wiring.container import Container
from nlu.keywords import KeywordUnderstanding


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no network in this test: {request.url}")


async def test_the_served_app_hides_its_start_up_heap_from_the_garbage_collector(
    tmp_path: Path,
) -> None:
    """A full collection would otherwise walk every object start-up left (~75 ms
    with no request answered); the served app freezes them once started."""
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db")
    container = Container(settings, http_transport=httpx.MockTransport(_refuse),
                          understanding=KeywordUnderstanding())
    app = create_app(settings, container=container, configure_logs=False, long_running=True)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            frozen = gc.get_freeze_count()
            assert frozen > 50_000
            # Requests' garbage is still collected, and quickly.
            assert gc.collect() >= 0
    finally:
        gc.unfreeze()


async def test_an_app_built_for_tests_leaves_the_collector_alone(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db")
    container = Container(settings, http_transport=httpx.MockTransport(_refuse),
                          understanding=KeywordUnderstanding())
    app = create_app(settings, container=container, configure_logs=False)
    gc.unfreeze()
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0


async def test_serving_several_workers_migrates_the_database_once_up_front(
    tmp_path: Path,
) -> None:
    database = tmp_path / "var" / "minhu.db"
    database.parent.mkdir()
    await _migrate(Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{database}"))
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"conversations", "inbound_messages", "alembic_version"} <= tables
