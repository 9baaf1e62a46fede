"""Telegram's personal data and the bot token stay out of the logs."""

from __future__ import annotations

import logging

import pytest

from bot.logs import PersonalDataFilter, mask
from tests.telegram.support import TOKEN


@pytest.mark.parametrize(("raw", "hidden", "kept"), [
    (f"POST https://api.telegram.org/bot{TOKEN}/sendMessage", TOKEN, "7000000001:***"),
    ("contact +8613812345678 shared", "13812345678", "+86138****5678"),
    ("contact +86 138 1234 5678 shared", "1234 5678", "+86 138****5678"),
    ("turn telegram:7000000001:424242 done", "424242", "telegram:7000000001:42***42"),
])
def test_masked(raw: str, hidden: str, kept: str) -> None:
    masked = mask(raw)
    assert hidden not in masked and kept in masked


def test_ptb_debug_records_are_masked_too() -> None:
    record = logging.makeLogRecord({
        "name": "telegram.Bot", "levelno": logging.DEBUG, "msg": "Calling %s with %s",
        "args": ("sendMessage", {"chat_id": "424242", "text": "电话13812345678"}),
    })
    PersonalDataFilter().filter(record)
    assert "13812345678" not in record.getMessage()
