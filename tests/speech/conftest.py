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
