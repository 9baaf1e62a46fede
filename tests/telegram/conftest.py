"""The fake Bot API on loopback, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.telegram.fake_bot_api import FakeBotAPI, FakeBotAPIServer
from tests.telegram.support import TOKEN


@pytest.fixture
def fake_bot_api() -> Iterator[tuple[FakeBotAPI, str]]:
    """(the fake, its base URL for MINHU_TELEGRAM_API_BASE)."""
    fake = FakeBotAPI(token=TOKEN)
    with FakeBotAPIServer(fake) as base_url:
        yield fake, base_url
