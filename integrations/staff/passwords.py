"""Password hashing for staff accounts: scrypt with a random salt.

A stored hash names its own parameters (``scrypt$n$r$p$salt$hash``, salt
and hash in unpadded base64url), so the cost can be raised later without
invalidating existing passwords: :meth:`PasswordHasher.needs_rehash` tells
the caller to store a fresh hash after the next successful sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["DEFAULT_HASHER", "PasswordHasher"]

_SCHEME = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32
# scrypt needs about 128 * n * r bytes; leave room above OpenSSL's 32 MiB default.
_MAX_MEMORY = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    """scrypt at cost ``n`` (a power of two), block size ``r``, parallelism ``p``.

    The default cost takes some tens of milliseconds per hash: slow enough
    to make guessing stolen hashes expensive, fast enough for a sign-in.
    """

    n: int = 2**14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("scrypt's n must be a power of two above 1")
        if self.r < 1 or self.p < 1:
            raise ValueError("scrypt's r and p must be positive")

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(_SALT_BYTES)
        key = self._derive(password, salt, self.n, self.r, self.p)
        return f"{_SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str) -> bool:
        """Whether ``password`` matches ``stored``; False for a malformed hash."""
        try:
            scheme, n, r, p, salt, key = stored.split("$")
            if scheme != _SCHEME:
                return False
            expected = _unb64(key)
            actual = self._derive(password, _unb64(salt), int(n), int(r), int(p))
        except ValueError:
            return False
        return hmac.compare_digest(actual, expected)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than these."""
        return not stored.startswith(f"{_SCHEME}${self.n}${self.r}${self.p}$")

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY,
            dklen=_KEY_BYTES,
        )


DEFAULT_HASHER = PasswordHasher()
