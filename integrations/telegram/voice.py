"""Telegram voice notes for speech recognition: OGG/Opus, fetched with getFile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import ChannelAPIError
from bot.types import InboundMessage

if TYPE_CHECKING:
    from .api import TelegramAPI

__all__ = ["TelegramAudioSource"]


class TelegramAudioSource:
    """``bot.voice.AudioSource`` for Telegram: the voice note's ``file_id`` is
    its ``media_id``; the bytes come from getFile and the file URL."""

    def __init__(self, api: TelegramAPI) -> None:
        self._api = api

    async def fetch(self, message: InboundMessage, *, max_bytes: int) -> bytes:
        if not message.media_id:
            raise ChannelAPIError("a Telegram voice note without a file_id")
        return await self._api.download_file(message.media_id, max_bytes=max_bytes)
