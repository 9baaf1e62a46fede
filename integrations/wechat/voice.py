"""WeChat voice messages without ``Recognition``: the audio from the media API.

``GET /cgi-bin/media/get`` serves a voice message's media (AMR, or Speex for
high-definition recordings) for three days, so a voice note whose turn is
recovered after a crash can still be fetched. WeChat's own limit for voice
media is 2 MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import ChannelAPIError, PayloadTooLarge
from bot.types import InboundMessage

if TYPE_CHECKING:
    from .api import WeChatAPI

__all__ = ["WeChatAudioSource"]


class WeChatAudioSource:
    """``bot.voice.AudioSource`` for the official account."""

    def __init__(self, api: WeChatAPI) -> None:
        self._api = api

    async def fetch(self, message: InboundMessage, *, max_bytes: int) -> bytes:
        if not message.media_id:
            raise ChannelAPIError("a WeChat voice message without a MediaId")
        try:
            data = await self._api.download_media(message.media_id, max_bytes=max_bytes)
        except ChannelAPIError as exc:
            if "larger than" in str(exc):
                raise PayloadTooLarge(str(exc)) from exc
            raise
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"WeChat voice media of {len(data)} bytes over {max_bytes}")
        return data
