"""WeChat message signatures and the safe-mode message cipher (domain.md §2).

Signatures are the SHA-1 hex digest of the sorted, concatenated strings
(``token``, ``timestamp``, ``nonce`` and, in safe mode, the ``Encrypt``
value). The cipher is AES-256-CBC with ``key = b64decode(EncodingAESKey +
"=")`` and ``iv = key[:16]``, PKCS#7 padding to 32-byte blocks, over::

    16 random bytes | 4-byte big-endian length | message | app id

Tencent's sample vectors in ``shared/data/wechat/official_crypto_vectors.json``
are reproduced exactly by the tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.errors import MalformedPayload, SignatureError

from .xml import build_envelope, parse_xml

__all__ = [
    "BLOCK_SIZE",
    "EncryptedEnvelope",
    "WeChatCrypto",
    "signature",
    "verify",
]

# WeChat pads to 32 bytes (not AES's 16): the PKCS#7 block size of its scheme.
BLOCK_SIZE = 32
ENCODING_AES_KEY_LENGTH = 43
_RANDOM_PREFIX = 16
_LENGTH_FIELD = 4


def signature(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """SHA-1 hex digest of the sorted strings, as WeChat computes it."""
    joined = "".join(sorted([token, timestamp, nonce, *extra]))
    # SHA-1 is what the WeChat protocol prescribes; we do not choose it.
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324


def verify(
    expected: str | None, token: str, timestamp: str | None, nonce: str | None, *extra: str
) -> bool:
    """Constant-time check of a signature; false when anything is missing."""
    if not expected or timestamp is None or nonce is None:
        return False
    actual = signature(token, timestamp, nonce, *extra)
    return hmac.compare_digest(actual.encode("utf-8"), expected.strip().lower().encode("utf-8"))


@dataclass(frozen=True, slots=True)
class EncryptedEnvelope:
    """The outer XML of a safe-mode passive reply."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str

    def to_xml(self) -> str:
        return build_envelope(
            encrypt=self.encrypt,
            msg_signature=self.msg_signature,
            timestamp=self.timestamp,
            nonce=self.nonce,
        )


class WeChatCrypto:
    """Encrypts and decrypts safe-mode messages for one account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if not token:
            raise ValueError("WeChat token must not be empty")
        if not app_id:
            raise ValueError("WeChat app id must not be empty")
        if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
            raise ValueError(
                f"EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} characters, "
                f"got {len(encoding_aes_key)}"
            )
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey is not valid base64") from exc
        if len(key) != 32:  # pragma: no cover - 43 base64 chars always give 32 bytes
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.app_id = app_id
        self._key = key
        self._iv = key[:16]

    # -- signatures -------------------------------------------------------

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self.token, timestamp, nonce, encrypt)

    def verify(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, encrypt: str
    ) -> bool:
        return verify(msg_signature, self.token, timestamp, nonce, encrypt)

    # -- the cipher -------------------------------------------------------

    def encrypt(self, msg: str, *, random16: bytes | None = None) -> str:
        """Encrypt ``msg`` for WeChat; ``random16`` fixes the prefix (tests only)."""
        prefix = os.urandom(_RANDOM_PREFIX) if random16 is None else random16
        if len(prefix) != _RANDOM_PREFIX:
            raise ValueError("random16 must be exactly 16 bytes")
        body = msg.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8")
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        cipher = encryptor.update(plain) + encryptor.finalize()
        return base64.b64encode(cipher).decode("ascii")

    def decrypt(self, encrypted_b64: str) -> str:
        """Decrypt a base64 ``Encrypt`` value and return the inner message.

        Raises ``MalformedPayload`` for anything that does not decrypt to a
        well-formed plaintext and ``SignatureError`` when the message was
        meant for another app id.
        """
        try:
            cipher = base64.b64decode(encrypted_b64.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedPayload("encrypted message is not valid base64") from exc
        if not cipher or len(cipher) % 16:
            raise MalformedPayload("encrypted message has a bad length")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        plain = decryptor.update(cipher) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise MalformedPayload("encrypted message has bad padding")
        content = plain[_RANDOM_PREFIX:-pad]
        if len(content) < _LENGTH_FIELD:
            raise MalformedPayload("encrypted message is too short")
        (length,) = struct.unpack(">I", content[:_LENGTH_FIELD])
        body_end = _LENGTH_FIELD + length
        if body_end > len(content):
            raise MalformedPayload("encrypted message has a bad length field")
        app_id = content[body_end:]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise SignatureError("encrypted message is for another app id")
        try:
            return content[_LENGTH_FIELD:body_end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedPayload("encrypted message is not UTF-8") from exc

    # -- whole messages ---------------------------------------------------

    def decrypt_message(
        self, body: bytes | str, msg_signature: str | None, timestamp: str | None, nonce: str | None
    ) -> str:
        """Check and open a safe-mode POST body; returns the inner XML text."""
        outer = parse_xml(body)
        encrypt = outer.get("Encrypt")
        if not encrypt:
            raise MalformedPayload("safe-mode body without Encrypt")
        if not self.verify(msg_signature, timestamp, nonce, encrypt):
            raise SignatureError("bad msg_signature")
        return self.decrypt(encrypt)

    def decrypt_echostr(
        self, msg_signature: str | None, timestamp: str | None, nonce: str | None, echostr: str
    ) -> str:
        """The URL verification of safe mode (WeCom style): check, then decrypt."""
        if not self.verify(msg_signature, timestamp, nonce, echostr):
            raise SignatureError("bad msg_signature")
        return self.decrypt(echostr)

    def encrypt_reply(
        self,
        reply_xml: str,
        *,
        timestamp: str,
        nonce: str | None = None,
        random16: bytes | None = None,
    ) -> EncryptedEnvelope:
        """Encrypt and sign a passive reply."""
        nonce = nonce if nonce is not None else str(secrets.randbelow(10**10))
        encrypt = self.encrypt(reply_xml, random16=random16)
        return EncryptedEnvelope(
            encrypt=encrypt,
            msg_signature=self.sign(timestamp, nonce, encrypt),
            timestamp=timestamp,
            nonce=nonce,
        )
