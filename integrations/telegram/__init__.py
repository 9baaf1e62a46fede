"""Telegram channel: Bot API webhook and long polling, update registry, sender.

Wiring (see the names below)::

    channel = TelegramChannel(TelegramConfig(token=..., secret=...), ingest,
                              media=(media_store, media_links))
    senders[Channel.TELEGRAM] = channel.sender
    Ingest(..., preparers={Channel.TELEGRAM: channel.photos})   # photos staff can open
    app.fast_routes["/telegram"] = channel.webhook   # or: channel.poller().run(stop)

The fake Bot API used by the tests and the simulator is in
``integrations.telegram.fake_bot_api`` and is not imported here.
"""

from __future__ import annotations

from .api import ALLOWED_UPDATES, DEFAULT_API_BASE, TelegramAPI, as_delivery_error
from .channel import BOT_COMMANDS, TelegramChannel, TelegramConfig
from .inbound import TelegramInbound
from .media import TelegramPhotos
from .polling import TelegramPoller
from .sender import CALLBACK_DATA_LIMIT, TelegramSender, keyboard_rows
from .text import TEXT_LIMIT, split_text
from .updates import (
    COMMAND_PAYLOADS,
    MESSAGE_CONTENTS,
    UPDATE_TYPES,
    ParsedUpdate,
    bot_id_of,
    message_content,
    parse_update,
    update_type,
)
from .webhook import SECRET_HEADER, TelegramWebhook, TelegramWebhookConfig

__all__ = [
    "ALLOWED_UPDATES",
    "BOT_COMMANDS",
    "CALLBACK_DATA_LIMIT",
    "COMMAND_PAYLOADS",
    "DEFAULT_API_BASE",
    "MESSAGE_CONTENTS",
    "SECRET_HEADER",
    "TEXT_LIMIT",
    "UPDATE_TYPES",
    "ParsedUpdate",
    "TelegramAPI",
    "TelegramChannel",
    "TelegramConfig",
    "TelegramInbound",
    "TelegramPhotos",
    "TelegramPoller",
    "TelegramSender",
    "TelegramWebhook",
    "TelegramWebhookConfig",
    "as_delivery_error",
    "bot_id_of",
    "keyboard_rows",
    "message_content",
    "parse_update",
    "split_text",
    "update_type",
]
