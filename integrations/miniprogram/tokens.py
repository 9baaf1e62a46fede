"""The API's own session tokens: short-lived, signed, carrying an openid and an expiry.

A token is ``<payload>.<signature>``, both unpadded base64url: the payload is
``mp1|<openid>|<expiry as Unix seconds>``, the signature its HMAC-SHA256
under a key derived from the configured secret and the mini-program's app
id (so a token of one app is worthless to another). Nothing about the
WeChat session (the ``session_key``) is in it; that stays in the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrations.storage.codec import as_utc, utc_now

__all__ = ["MAX_TOKEN_LENGTH", "MIN_SECRET_LENGTH", "SessionToken", "SessionTokens"]

MIN_SECRET_LENGTH = 32
# Longer values are not ours: refused before any decoding.
MAX_TOKEN_LENGTH = 512
_KIND = "mp1"
_KEY_LABEL = b"minhu mini-program sessions v1|"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SessionToken:
    openid: str
    expires_at: datetime


class SessionTokens:
    def __init__(
        self,
        secret: str,
        *,
        app_id: str,
        lifetime: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        raw = secret.encode("utf-8")
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"MINHU_MINIPROGRAM_SESSION_SECRET needs at least {MIN_SECRET_LENGTH} bytes"
            )
        if lifetime <= timedelta(0):
            raise ValueError("a session lifetime must be positive")
        self._key = hmac.new(raw, _KEY_LABEL + app_id.encode("utf-8"), hashlib.sha256).digest()
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, openid: str) -> tuple[str, SessionToken]:
        expires_at = (as_utc(self._clock()) + self.lifetime).replace(microsecond=0)
        payload = f"{_KIND}|{openid}|{int(expires_at.timestamp())}".encode()
        token = f"{_b64(payload)}.{_b64(self._sign(payload))}"
        return token, SessionToken(openid, expires_at)

    def verify(self, value: str | None) -> SessionToken | None:
        """The session in ``value``; None when forged, altered, malformed or expired."""
        if not value or len(value) > MAX_TOKEN_LENGTH or value.count(".") != 1:
            return None
        encoded_payload, encoded_signature = value.split(".")
        try:
            payload = _unb64(encoded_payload)
            signature = _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            kind, openid, expires = payload.decode("utf-8").split("|")
            expires_at = datetime.fromtimestamp(int(expires), UTC)
        except (UnicodeDecodeError, ValueError, OverflowError, OSError):
            return None
        if kind != _KIND or not openid or expires_at <= as_utc(self._clock()):
            return None
        return SessionToken(openid, expires_at)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()
