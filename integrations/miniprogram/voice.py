"""Mini-program voice recordings for speech recognition: read back from the media store."""

from __future__ import annotations

from bot.errors import ChannelAPIError
from bot.types import InboundMessage
from integrations.media.store import AUDIO_TYPES, MediaStore

__all__ = ["MiniProgramAudioSource"]

_CONTENT_TYPES = {extension: content_type for content_type, extension in AUDIO_TYPES.items()}


class MiniProgramAudioSource:
    """``bot.voice.AudioSource`` for ``POST /mp/v1/chat/voice`` uploads: the
    recording was stored (content-addressed) before its turn was submitted."""

    def __init__(self, media: MediaStore) -> None:
        self._media = media

    async def fetch(self, message: InboundMessage, *, max_bytes: int) -> bytes:
        content_type = _CONTENT_TYPES.get(message.media_format or "")
        if not message.media_id or content_type is None:
            raise ChannelAPIError("a mini-program voice turn without a stored recording")
        try:
            data = await self._media.read(message.media_id, content_type)
        except ValueError as exc:
            raise ChannelAPIError("not a mini-program media id") from exc
        if data is None:
            raise ChannelAPIError("the mini-program recording is gone")
        return bytes(data)
