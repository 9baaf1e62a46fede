"""``ChannelSender`` for Telegram: text, inline keyboards and photos into the chat.

Telegram has no reply window: a bot may write to anyone who started it
until they block it, so progress pushes days later go out the same way as
answers. Buttons become an inline keyboard whose ``callback_data`` is the
button's payload (pressing one comes back as that payload); a payload over
Telegram's 64-byte limit cannot be a button, so such a message is sent as
numbered options instead, which the dispatcher maps back just the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.errors import ChannelAPIError, DeliveryError, MinhuError, PermanentDeliveryError
from bot.types import Button, Channel, ConversationKey, OutboundKind, OutboundMessage

from .api import TelegramAPI, as_delivery_error
from .text import CAPTION_LIMIT, TEXT_LIMIT, split_text, utf16_len

__all__ = ["CALLBACK_DATA_LIMIT", "TelegramSender", "keyboard_rows"]

log = logging.getLogger("minhu.telegram.sender")

# Telegram takes 1-64 bytes of callback_data per button.
CALLBACK_DATA_LIMIT = 64
# A message with buttons needs some text above them.
_CHOOSE = "请选择："


def keyboard_rows(buttons: Sequence[Button]) -> list[list[Button]]:
    """Buttons laid out in rows: short titles side by side, long ones alone."""
    longest = max((len(b.title) for b in buttons), default=0)
    per_row = 3 if longest <= 4 else 2 if longest <= 8 else 1
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _fits(button: Button) -> bool:
    size = len(button.payload.encode("utf-8"))
    return 1 <= size <= CALLBACK_DATA_LIMIT


class TelegramSender:
    channel = Channel.TELEGRAM

    def __init__(self, api: TelegramAPI, *, limit: int = TEXT_LIMIT) -> None:
        self._api = api
        self._limit = limit

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        if key.account != self._api.bot_id:
            # The chat belongs to another bot (the token was changed): this one cannot reach it.
            raise PermanentDeliveryError("conversation of another Telegram bot")
        try:
            if message.kind is OutboundKind.IMAGE and (message.image_url or message.image_media_id):
                return await self._send_photo(key.user, message)
            return await self._send_text(key.user, message)
        except ChannelAPIError as exc:
            raise as_delivery_error(exc) from exc
        except MinhuError:
            raise
        except Exception as exc:
            # Anything else PTB lets through must not stop the outbox worker.
            raise DeliveryError(f"Telegram send failed: {type(exc).__name__}") from exc

    def _keyboard(self, message: OutboundMessage) -> tuple[str, InlineKeyboardMarkup | None]:
        """The text to show and the keyboard under it (None: no buttons, or
        buttons shown as numbered options because one cannot be a button)."""
        if not message.buttons:
            return message.text, None
        if not all(_fits(b) for b in message.buttons):
            log.warning("a button payload is over %d bytes; sending numbered options instead",
                        CALLBACK_DATA_LIMIT)
            return message.plain_text(), None
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.title, callback_data=b.payload) for b in row]
             for row in keyboard_rows(message.buttons)]
        )
        return message.text or _CHOOSE, markup

    async def _send_text(self, chat_id: str, message: OutboundMessage) -> str:
        text, keyboard = self._keyboard(message)
        if message.kind is OutboundKind.IMAGE and not text.strip():
            text = message.plain_text()
        parts = [p for p in split_text(text, self._limit) if p.strip()]
        if not parts:
            raise PermanentDeliveryError("empty message")
        for index, part in enumerate(parts):
            # The keyboard goes under the last part, next to the question it answers.
            last = index == len(parts) - 1
            await self._api.send_message(chat_id, part, keyboard=keyboard if last else None)
        return "message"

    async def _send_photo(self, chat_id: str, message: OutboundMessage) -> str:
        photo = message.image_url or message.image_media_id
        assert photo is not None
        text, keyboard = self._keyboard(message)
        if utf16_len(text) <= CAPTION_LIMIT:
            await self._api.send_photo(chat_id, photo, caption=text or None, keyboard=keyboard)
            return "photo"
        await self._api.send_photo(chat_id, photo)
        for index, part in enumerate(parts := split_text(text, self._limit)):
            last = index == len(parts) - 1
            await self._api.send_message(chat_id, part, keyboard=keyboard if last else None)
        return "photo"
