"""``uvicorn bench.app_factory:create --factory --workers N``: minhu's app from Settings.

Used by ``bench.webhook --minhu-workers N`` to try several uvicorn worker
processes. The bench runs ``minhu db upgrade`` first and sets
``MINHU_MIGRATE_ON_START=false`` so that the workers do not race to migrate
the same database.

``MINHU_STATE_CACHE_SIZE`` is honoured here (0: the turns read the store
directly), whether or not the container wires it yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import bot.wiring.container as container_module
from bot.caching import CachingConversationStore
from bot.settings import Settings
from bot.wiring.app import create_app


def create() -> FastAPI:
    settings = Settings()
    size = settings.state_cache_size

    def state_cache(inner: Any, **kwargs: Any) -> Any:
        if size <= 0:
            return inner
        return CachingConversationStore(inner, capacity=size)

    container_module.CachingConversationStore = state_cache  # type: ignore[attr-defined,assignment]
    return create_app(settings)


def _bench_hooks() -> None:
    """``BENCH_NO_WRITER_LOCK=1``: SQLite writers wait in busy_timeout only (an A/B switch)."""
    import os

    if os.environ.get("BENCH_NO_WRITER_LOCK") == "1":
        from integrations.storage.runner import SqliteRunner

        SqliteRunner._lock_writers = lambda self: False  # type: ignore[method-assign]


_bench_hooks()
