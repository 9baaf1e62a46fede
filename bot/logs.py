"""Structured logs with personal data masked.

Every record goes through :func:`mask`: mainland mobile and landline
numbers, WeChat openids and Telegram user ids in conversation keys, and
fields that name a person are masked before anything is written, whatever
the handler or adapter that logged them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["PersonalDataFilter", "configure_logging", "mask", "mask_identifier"]

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# The same numbers in international form, as Telegram shares them ("+86 138 1234 5678").
_INTL_MOBILE = re.compile(r"(?<![\d+])(\+?86[\s-]?)(1[3-9]\d)[\s-]?\d{4}[\s-]?(\d{4})(?!\d)")
# A Telegram bot token (it is part of every Bot API URL): keep the bot id only.
_BOT_TOKEN = re.compile(r"(?<!\d)(\d{5,20}):[A-Za-z0-9_-]{30,}")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[-\s]?(\d{3,4})(\d{4})(?!\d)")
# Conversation keys look like "wechat:gh_account:oUSER..." — mask the user part.
_CONVERSATION_KEY = re.compile(r"\b(wechat|miniprogram|telegram):([^:\s]+):([^\s\"',}]+)")
# WeChat openids are 28 characters starting with "o".
_OPENID = re.compile(r"\bo[A-Za-z0-9_-]{27}\b")

_SENSITIVE_FIELDS = {"openid", "user", "from_user", "phone", "name", "person", "session_key"}
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def mask_identifier(value: str) -> str:
    if len(value) <= 4:
        return "***"
    return f"{value[:2]}***{value[-2:]}"


def mask(text: str) -> str:
    text = _BOT_TOKEN.sub(lambda m: f"{m.group(1)}:***", text)
    text = _INTL_MOBILE.sub(lambda m: f"{m.group(1)}{m.group(2)}****{m.group(3)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _CONVERSATION_KEY.sub(
        lambda m: f"{m.group(1)}:{m.group(2)}:{mask_identifier(m.group(3))}", text
    )
    return _OPENID.sub(lambda m: mask_identifier(m.group(0)), text)


def _mask_value(key: str, value: Any) -> Any:
    if key in _SENSITIVE_FIELDS and isinstance(value, str):
        return mask_identifier(value)
    if isinstance(value, str):
        return mask(value)
    return value


class PersonalDataFilter(logging.Filter):
    """Masks the message, its arguments and extra fields in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = _mask_value(key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PersonalDataFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # python-telegram-bot logs every Bot API call with its parameters at DEBUG.
    for noisy in ("uvicorn.access", "httpx", "aiosqlite", "asyncio", "telegram"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
