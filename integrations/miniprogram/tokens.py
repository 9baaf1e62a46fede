"""The API's own session tokens: short-lived, signed, carrying an openid and an expiry.

A token is ``<payload>.<signature>``, both unpadded base64url: the payload is
``mp1|<openid>|<expiry as Unix seconds>``, the signature its HMAC-SHA256
under a key derived from the configured secret and the mini-program's app
id (so a token of one app is worthless to another). Nothing about the
WeChat session (the ``session_key``) is in it; that stays in the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrations.sealed import Seal
from integrations.storage.codec import as_utc, utc_now

__all__ = ["MAX_TOKEN_LENGTH", "MIN_SECRET_LENGTH", "SessionToken", "SessionTokens"]

MIN_SECRET_LENGTH = 32
# Longer values are not ours: refused before any decoding.
MAX_TOKEN_LENGTH = 512
_KIND = "mp1"
_KEY_LABEL = b"minhu mini-program sessions v1|"


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
        self._seal = Seal(
            hmac.new(raw, _KEY_LABEL + app_id.encode("utf-8"), hashlib.sha256).digest(),
            max_length=MAX_TOKEN_LENGTH,
        )
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, openid: str) -> tuple[str, SessionToken]:
        expires_at = (as_utc(self._clock()) + self.lifetime).replace(microsecond=0)
        token = self._seal.seal(_KIND, openid, str(int(expires_at.timestamp())))
        return token, SessionToken(openid, expires_at)

    def verify(self, value: str | None) -> SessionToken | None:
        """The session in ``value``; None when forged, altered, malformed or expired."""
        fields = self._seal.open(value, _KIND, 2)
        if fields is None:
            return None
        openid, expires = fields
        try:
            expires_at = datetime.fromtimestamp(int(expires), UTC)
        except (ValueError, OverflowError, OSError):
            return None
        if not openid or expires_at <= as_utc(self._clock()):
            return None
        return SessionToken(openid, expires_at)
