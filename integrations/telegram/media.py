"""Photos residents send on Telegram, fetched so that staff can open them.

A Telegram photo arrives as a ``file_id``, which only this bot can turn
into bytes (the download URL holds the bot's token). So, in the turn of
the photo's message (the webhook has answered and the message is in the
journal; see ``bot.ports.InboundPreparer``), the photo is fetched::

    getFile(file_id) ─ file_size over MINHU_MEDIA_MAX_BYTES? ─ refused
      └ GET <api base>/file/bot<token>/<file_path> ─ over the limit? ─ refused
          └ JPEG / PNG / WebP by its first bytes? ─ no: refused
              └ stored as <media_dir>/<sha256[:2]>/<sha256>.<ext>
                  └ media_url = <public base>/media/<sha256>?sig=<hmac>

The signed link is what the ticket carries and staff open. When any step
fails (Telegram unreachable, an expired file, too big, not an image) the
message goes on with its ``file_id`` as before, and a warning says which
message kept a bare file id and why: the resident's photo is never lost
over it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.errors import MinhuError, PayloadTooLarge
from bot.types import Channel, InboundKind, InboundMessage
from integrations.media import MediaLinks, MediaStore, sniff

from .api import TelegramAPI

__all__ = ["FETCH_TIMEOUT_SECONDS", "PHOTO_RAW_TYPES", "TelegramPhotos"]

log = logging.getLogger("minhu.telegram.media")

# What updates.py names a photo, and an image sent as a file.
PHOTO_RAW_TYPES = frozenset({"photo", "document:image"})
# getFile plus the download of one photo (Telegram's photos are at most 10 MB).
FETCH_TIMEOUT_SECONDS = 30.0


class _NotAnImage(MinhuError):
    pass


class TelegramPhotos:
    """``bot.ports.InboundPreparer`` for the Telegram channel."""

    def __init__(
        self,
        api: TelegramAPI,
        store: MediaStore,
        links: MediaLinks,
        *,
        timeout: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self._api = api
        self._store = store
        self._links = links
        self._timeout = timeout

    async def prepare(self, message: InboundMessage) -> InboundMessage:
        if (
            message.key.channel is not Channel.TELEGRAM
            or message.kind is not InboundKind.IMAGE
            or message.raw_type not in PHOTO_RAW_TYPES
            or not message.media_id
            or message.media_url
        ):
            return message
        try:
            url = await asyncio.wait_for(self._fetch(message.media_id), timeout=self._timeout)
        except (MinhuError, TimeoutError, OSError) as exc:
            why = (
                "too big" if isinstance(exc, PayloadTooLarge)
                else "not a JPEG, PNG or WebP image" if isinstance(exc, _NotAnImage)
                else "timed out" if isinstance(exc, TimeoutError)
                else f"not stored: {type(exc).__name__}" if isinstance(exc, OSError)
                else str(exc)
            )
            log.warning(
                "Telegram photo not downloaded (%s): the request keeps its Telegram file id, "
                "which staff cannot open", why,
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            return message
        return replace(message, media_url=url)

    async def _fetch(self, file_id: str) -> str:
        data = await self._api.download_file(file_id, max_bytes=self._store.max_bytes)
        content_type = sniff(data[:16])
        if content_type is None:
            raise _NotAnImage("not an image")
        stored = await self._store.save(data, content_type)
        log.info("Telegram photo stored (%s, %d bytes)", content_type, stored.size)
        return self._links.url(stored.media_id)
