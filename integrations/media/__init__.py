"""Photos minhu keeps itself, shared by the channels that receive them.

- :mod:`.store`: checked by magic bytes, stored as ``<media_dir>/<sha[:2]>/<sha>.<ext>``;
- :mod:`.links`: signed capability links the ticket backend's staff can open;
- :mod:`.web`: ``GET /media/{id}?sig=…``, serving those links (Telegram's photos;
  the mini-program serves its own under ``/mp/v1/media``).
"""

from __future__ import annotations

from .links import MediaLinks
from .store import MEDIA_ID, MEDIA_TYPES, MediaStore, StoredMedia, sniff

__all__ = ["MEDIA_ID", "MEDIA_TYPES", "MediaLinks", "MediaStore", "StoredMedia", "sniff"]
