"""The real speech engine for the scenario tests (loaded once), behind a pool per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from integrations.speech import TranscriptionPool
from integrations.telegram.fake_bot_api import FakeBotAPI, FakeBotAPIServer
from tests.speech_support import real_pool
from tests.telegram.support import TOKEN


@pytest.fixture
async def real_speech() -> AsyncIterator[TranscriptionPool]:
    """The default engine (faster-whisper base), as the app runs it; skipped
    (or failed under MINHU_TEST_ASR=required) when the model is not installed."""
    pool = real_pool(workers=1, queue_limit=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def fake_bot_api() -> Iterator[tuple[FakeBotAPI, str]]:
    """(the fake Bot API, its base URL for MINHU_TELEGRAM_API_BASE)."""
    fake = FakeBotAPI(token=TOKEN)
    with FakeBotAPIServer(fake) as base_url:
        yield fake, base_url
