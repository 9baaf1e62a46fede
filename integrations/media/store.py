"""Photos kept by minhu: checked by their bytes, stored under content-addressed names.

A photo is accepted only when its first bytes say JPEG, PNG or WebP (a
client's file name and content type are not trusted), and only up to the
configured size. It is stored once per content as
``<media_dir>/<sha256[:2]>/<sha256>.<ext>`` (written to a temporary file in
the same folder, then renamed into place), and known by its SHA-256 only:
no name a client chose ever reaches the file system. ``media_dir`` is a
folder of its own (``var/media`` by default), outside anything served
statically; photos are served only through routes that check a signature
or the owner (:mod:`integrations.media.web`, ``/mp/v1/media``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AUDIO_TYPES",
    "MEDIA_ID",
    "MEDIA_TYPES",
    "MediaStore",
    "StoredMedia",
    "sniff",
    "sniff_audio",
]

MEDIA_ID = re.compile(r"^[0-9a-f]{64}$")
# content type → file extension
MEDIA_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# Voice recordings for chat turns (wx.getRecorderManager: mp3, aac), stored the
# same way; the extension is also the format handed to speech recognition.
AUDIO_TYPES = {"audio/mpeg": "mp3", "audio/aac": "aac", "audio/mp4": "m4a"}
_EXTENSIONS = {**MEDIA_TYPES, **AUDIO_TYPES}


def sniff(head: bytes) -> str | None:
    """The content type the bytes themselves show, among those accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def sniff_audio(head: bytes) -> str | None:
    """The audio type the bytes themselves show: mp3 (ID3 tag or an MPEG frame),
    AAC in ADTS frames, or AAC in an MP4 container (m4a)."""
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "audio/mp4"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return "audio/aac"  # ADTS: sync word, layer 00
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
            return "audio/mpeg"  # MPEG audio frame: sync, layer I-III
    return None


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    content_type: str
    size: int
    path: Path


class MediaStore:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("media_max_bytes must be positive")
        self.root = root
        self.max_bytes = max_bytes

    def path_of(self, media_id: str, content_type: str) -> Path:
        if not MEDIA_ID.match(media_id) or content_type not in _EXTENSIONS:
            raise ValueError("not a media id")
        return self.root / media_id[:2] / f"{media_id}.{_EXTENSIONS[content_type]}"

    async def save(self, data: bytes, content_type: str) -> StoredMedia:
        return await asyncio.to_thread(self._save, data, content_type)

    def _save(self, data: bytes, content_type: str) -> StoredMedia:
        media_id = hashlib.sha256(data).hexdigest()
        path = self.path_of(media_id, content_type)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o640)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        return StoredMedia(media_id, content_type, len(data), path)

    async def read(self, media_id: str, content_type: str) -> bytes | None:
        path = self.path_of(media_id, content_type)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def find(self, media_id: str) -> tuple[str, bytes] | None:
        """(content type, bytes) of a stored photo, whatever its type; None if absent."""
        if not MEDIA_ID.match(media_id):
            return None
        for content_type in MEDIA_TYPES:
            data = await self.read(media_id, content_type)
            if data is not None:
                return content_type, data
        return None
