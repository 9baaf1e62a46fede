"""Password hashing for staff accounts: argon2id, and the scrypt hashes of before.

New hashes are argon2id in the PHC string format
(``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``), which names its own
parameters, so the cost can be raised later without invalidating existing
passwords. Hashes made before argon2 (``scrypt$n$r$p$salt$hash``, salt and
hash in unpadded base64url) still verify; :meth:`PasswordHasher.needs_rehash`
is true for them (and for argon2 hashes with other parameters), which tells
the caller to store a fresh hash after the next successful sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["ARGON2_PREFIX", "DEFAULT_HASHER", "SCRYPT_PREFIX", "PasswordHasher", "ScryptHasher"]

ARGON2_PREFIX = "$argon2id$"
SCRYPT_PREFIX = "scrypt$"
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
class ScryptHasher:
    """scrypt at cost ``n`` (a power of two), block size ``r``, parallelism ``p``.

    What staff passwords were hashed with before argon2id: kept to verify
    the hashes already stored (each names its own parameters) until their
    owners sign in again, and for tests that need such a hash."""

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


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    """argon2id at ``time_cost`` passes over ``memory_cost`` KiB with ``parallelism`` lanes.

    The defaults are RFC 9106's second recommended profile (64 MiB, 3 passes,
    4 lanes): some tens of milliseconds per hash, slow enough to make guessing
    stolen hashes expensive, fast enough for a sign-in. Verifies scrypt hashes
    of before as well (``needs_rehash`` is then true)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024
    parallelism: int = 4
    legacy: ScryptHasher = field(default_factory=ScryptHasher)
    _argon2: argon2.PasswordHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("argon2's time cost and parallelism must be positive")
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("argon2's memory cost must be at least 8 KiB per lane")
        object.__setattr__(self, "_argon2", argon2.PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_cost,
            parallelism=self.parallelism, hash_len=_KEY_BYTES, salt_len=_SALT_BYTES,
            type=argon2.Type.ID,
        ))

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password: str, stored: str) -> bool:
        """Whether ``password`` matches ``stored`` (argon2id, or scrypt from
        before); False for a malformed or foreign hash."""
        if stored.startswith(ARGON2_PREFIX):
            try:
                return self._argon2.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        if stored.startswith(SCRYPT_PREFIX):
            return self.legacy.verify(password, stored)
        return False

    def needs_rehash(self, stored: str) -> bool:
        """True unless ``stored`` is argon2id made with exactly these parameters."""
        if not stored.startswith(ARGON2_PREFIX):
            return True
        try:
            return self._argon2.check_needs_rehash(stored)
        except InvalidHashError:
            return True


DEFAULT_HASHER = PasswordHasher()
