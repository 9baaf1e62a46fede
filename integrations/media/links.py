"""Capability links to stored photos: ``<prefix><sha256>?sig=<hmac>``.

Whoever holds such a link can see the photo (the ticket's handlers open it
from the work-order pages; an Open311 server only forwards ``http(s)``
``media_url`` values). The signature is HMAC-SHA256 of the media id under a
key of the deployment, cut to 128 bits; links do not expire, and changing
the key invalidates all of them.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from .store import MEDIA_ID

__all__ = ["MediaLinks"]


class MediaLinks:
    """Signs and checks links under one URL ``prefix`` (ending in ``/``)."""

    def __init__(self, key: bytes, *, prefix: str) -> None:
        if not key:
            raise ValueError("media links need a key")
        self._key = key
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"

    @classmethod
    def derived(cls, secret: str, context: bytes, *, prefix: str) -> MediaLinks:
        """Links whose key is derived from ``secret`` for one use (``context``)."""
        key = hmac.new(secret.encode("utf-8"), context, hashlib.sha256).digest()
        return cls(key, prefix=prefix)

    def signature(self, media_id: str) -> str:
        return hmac.new(self._key, media_id.encode("ascii"), hashlib.sha256).hexdigest()[:32]

    def url(self, media_id: str) -> str:
        return f"{self.prefix}{quote(media_id)}?sig={self.signature(media_id)}"

    def media_id_of(self, reference: str) -> str | None:
        """The media id behind one of these links, else None (the signature is not checked)."""
        if not reference.startswith(self.prefix):
            return None
        media_id = reference[len(self.prefix):].split("?", 1)[0]
        return media_id if MEDIA_ID.match(media_id) else None

    def verify(self, media_id: str, signature: str | None) -> bool:
        if not signature or not MEDIA_ID.match(media_id):
            return False
        return hmac.compare_digest(
            signature.encode("utf-8"), self.signature(media_id).encode("ascii")
        )
