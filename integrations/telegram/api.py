"""The Bot API through python-telegram-bot's ``Bot``, with minhu's errors.

PTB's exceptions are converted here, the original kept as ``__cause__``::

    TimedOut, NetworkError (transport, 5xx) ........ DeliveryError (retry)
    RetryAfter (429, flood control) ................ DeliveryError (retry, not before
                                                     Telegram's ``retry_after``)
    Forbidden (403: blocked, deactivated) .......... ChannelAPIError(code=403)
    BadRequest (400: chat not found, bad markup) ... ChannelAPIError(code=400)
    InvalidToken (401/404), Conflict (409), other .. ChannelAPIError(code=...)

``as_delivery_error`` then tells the outbox which refusals are for good.
The token is part of every URL: it is never logged or put in a message.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.errors import ChannelAPIError, DeliveryError, PayloadTooLarge, PermanentDeliveryError

from .updates import bot_id_of

__all__ = [
    "ALLOWED_UPDATES",
    "DEFAULT_API_BASE",
    "PERMANENT_CODES",
    "TelegramAPI",
    "as_delivery_error",
]

log = logging.getLogger("minhu.telegram.api")

DEFAULT_API_BASE = "https://api.telegram.org"
# What the bot asks Telegram for; everything else is not sent at all.
ALLOWED_UPDATES: tuple[str, ...] = ("message", "callback_query")
# Seconds a getUpdates call waits for updates (long polling).
POLL_TIMEOUT_SECONDS = 30
# Refusals that retrying cannot change: a bad request, a bot the resident blocked.
PERMANENT_CODES = frozenset({400, 403})


def retry_after_seconds(exc: RetryAfter) -> float | None:
    """Telegram's ``retry_after`` in seconds (PTB 22 gives an int or a timedelta,
    and warns about the change when it is read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def as_delivery_error(exc: ChannelAPIError) -> DeliveryError:
    """What a refusal means to the outbox: give up, or retry later."""
    if exc.code in PERMANENT_CODES:
        return PermanentDeliveryError(str(exc))
    return DeliveryError(str(exc))


def _converted(method: str, exc: TelegramError) -> Exception:
    text = f"Telegram {method}: {exc.message}"
    if isinstance(exc, RetryAfter):
        # The outbox waits at least this long before the next attempt.
        return DeliveryError(text, retry_after=retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        return ChannelAPIError(text, code=403)
    if isinstance(exc, BadRequest | ChatMigrated):
        return ChannelAPIError(text, code=400)
    if isinstance(exc, InvalidToken):
        return ChannelAPIError(text, code=401)
    if isinstance(exc, Conflict):
        return ChannelAPIError(text, code=409)
    if isinstance(exc, NetworkError):  # TimedOut included
        return DeliveryError(text)
    return ChannelAPIError(text)


class TelegramAPI:
    """The calls minhu makes, on one ``telegram.Bot`` with two HTTP clients
    (one for long polling, whose reads last longer) that :meth:`close` closes."""

    def __init__(
        self,
        token: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 10.0,
        poll_timeout: int = POLL_TIMEOUT_SECONDS,
        connections: int = 32,
    ) -> None:
        self.bot_id = bot_id_of(token)
        base = api_base.rstrip("/")
        self.poll_timeout = poll_timeout
        self._request = HTTPXRequest(
            connection_pool_size=connections, read_timeout=timeout, write_timeout=timeout,
            connect_timeout=min(timeout, 5.0), pool_timeout=min(timeout, 3.0),
        )
        # PTB adds getUpdates' own wait to this read timeout.
        self._updates_request = HTTPXRequest(
            connection_pool_size=1, read_timeout=timeout,
            write_timeout=timeout, connect_timeout=min(timeout, 5.0),
        )
        # PTB appends the token to these (".../bot<token>/sendMessage").
        self.bot = Bot(
            token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
            request=self._request, get_updates_request=self._updates_request,
        )

    async def close(self) -> None:
        """Close both HTTP clients (``Bot.shutdown`` would skip them, as the
        bot was never ``initialize``d: that would call getMe at start)."""
        await self._request.shutdown()
        await self._updates_request.shutdown()

    # -- sending --------------------------------------------------------------------------

    async def send_message(
        self, chat_id: str, text: str, *, keyboard: InlineKeyboardMarkup | None = None
    ) -> int:
        """Send plain text (no parse mode: nothing the resident sees is markup)."""
        try:
            sent: Message = await self.bot.send_message(
                chat_id=chat_id, text=text, reply_markup=keyboard
            )
        except TelegramError as exc:
            raise _converted("sendMessage", exc) from exc
        return sent.message_id

    async def send_photo(
        self, chat_id: str, photo: str, *, caption: str | None = None,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> int:
        """A photo by URL or by a file_id Telegram knows."""
        try:
            sent: Message = await self.bot.send_photo(
                chat_id=chat_id, photo=photo, caption=caption or None, reply_markup=keyboard,
            )
        except TelegramError as exc:
            raise _converted("sendPhoto", exc) from exc
        return sent.message_id

    async def answer_callback_query(self, query_id: str, text: str | None = None) -> None:
        try:
            await self.bot.answer_callback_query(callback_query_id=query_id, text=text)
        except TelegramError as exc:
            raise _converted("answerCallbackQuery", exc) from exc

    # -- files ----------------------------------------------------------------------------

    async def download_file(self, file_id: str, *, max_bytes: int) -> bytes:
        """A file the resident sent: getFile, then its file URL (which holds the
        token, so it is never logged). ``PayloadTooLarge`` when it is bigger
        than ``max_bytes``, by Telegram's word before the download or by the
        bytes after it."""
        try:
            found = await self.bot.get_file(file_id)
        except TelegramError as exc:
            raise _converted("getFile", exc) from exc
        if found.file_size is not None and found.file_size > max_bytes:
            raise PayloadTooLarge(f"Telegram file of {found.file_size} bytes over {max_bytes}")
        try:
            data = await found.download_as_bytearray()
        except TelegramError as exc:
            raise _converted("file download", exc) from exc
        except RuntimeError as exc:  # getFile gave no file_path
            raise ChannelAPIError("Telegram getFile gave no file path") from exc
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"Telegram file of {len(data)} bytes over {max_bytes}")
        return bytes(data)

    # -- set-up ---------------------------------------------------------------------------

    async def get_me(self) -> Mapping[str, Any]:
        try:
            me = await self.bot.get_me()
        except TelegramError as exc:
            raise _converted("getMe", exc) from exc
        return me.to_dict()

    async def set_webhook(self, url: str, *, secret: str, drop_pending: bool = False) -> None:
        try:
            await self.bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=drop_pending,
            )
        except TelegramError as exc:
            raise _converted("setWebhook", exc) from exc

    async def delete_webhook(self) -> None:
        try:
            await self.bot.delete_webhook(drop_pending_updates=False)
        except TelegramError as exc:
            raise _converted("deleteWebhook", exc) from exc

    async def set_commands(self, commands: Sequence[tuple[str, str]]) -> None:
        """The command menu the client shows next to the input field."""
        try:
            await self.bot.set_my_commands([BotCommand(name, text) for name, text in commands])
        except TelegramError as exc:
            raise _converted("setMyCommands", exc) from exc

    # -- receiving ------------------------------------------------------------------------

    async def get_updates(self, offset: int | None, *, wait: int | None = None) -> list[Any]:
        """Updates as JSON objects (the same input as the webhook's, for our own
        registry), waiting up to ``wait`` seconds for the first one."""
        wait = self.poll_timeout if wait is None else wait
        try:
            updates = await self.bot.get_updates(
                offset=offset, timeout=wait, allowed_updates=list(ALLOWED_UPDATES)
            )
        except TelegramError as exc:
            raise _converted("getUpdates", exc) from exc
        return [json.loads(update.to_json()) for update in updates]
