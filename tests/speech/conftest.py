"""Fixtures of the speech tests: the real engine (loaded once) and the real clips."""

from __future__ import annotations

import pytest

from integrations.speech import WhisperEngine
from tests.speech_support import real_engine, require_tools


@pytest.fixture(scope="session")
def speech_engine() -> WhisperEngine:
    return real_engine()


@pytest.fixture
def tools() -> None:
    require_tools()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Speech does not touch the database: run it once, on the SQLite pass."""
    from tests.support import use_postgres

    if not use_postgres():
        return
    skip = pytest.mark.skip(reason="speech-to-text does not depend on the database")
    for item in items:
        if "tests/speech/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
