"""Signed, readable tokens: ``<payload>.<signature>``, both unpadded base64url.

The payload is ``kind|field|field…`` in UTF-8, the signature its HMAC-SHA256.
Staff cookies and the mini-program's session tokens are such tokens, each
under a key of its own; their owners decide what the fields mean (expiry,
user) and check them after :meth:`Seal.open`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["Seal"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Seal:
    """Seals and opens tokens under one key; longer values than ``max_length``
    are not ours and are refused before any decoding."""

    def __init__(self, key: bytes, *, max_length: int) -> None:
        self._key = key
        self._max_length = max_length

    def seal(self, kind: str, *fields: str) -> str:
        payload = "|".join((kind, *fields)).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._signature(payload))}"

    def open(self, value: str | None, kind: str, count: int) -> list[str] | None:
        """The ``count`` fields of a genuine ``kind`` token; None when forged,
        altered, malformed or of another kind."""
        if not value or len(value) > self._max_length or value.count(".") != 1:
            return None
        encoded_payload, encoded_signature = value.split(".")
        try:
            payload = _unb64(encoded_payload)
            signature = _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            fields = payload.decode("utf-8").split("|")
        except UnicodeDecodeError:
            return None
        if len(fields) != count + 1 or fields[0] != kind:
            return None
        return fields[1:]

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()
