"""Opening the data a mini-program encrypts with the user's session key (domain.md §2).

``wx.getPhoneNumber`` and friends hand the mini-program ``encryptedData``
and ``iv``; the server decrypts them with the ``session_key`` from
``jscode2session``: AES-128-CBC, key = base64-decoded session key (16
bytes), iv = base64-decoded iv (16 bytes), PKCS#7 padding. The plaintext is
JSON with a ``watermark`` whose ``appid`` must be ours: otherwise the data
was made for another mini-program and is refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.errors import MalformedPayload, SignatureError

__all__ = ["AES_BLOCK", "decrypt_user_data", "encrypt_user_data"]

AES_BLOCK = 16
# Encrypted user data is small (a phone number, a profile); refuse anything big.
MAX_ENCRYPTED_CHARS = 16 * 1024


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedPayload(f"{what} is not valid base64") from exc


def decrypt_user_data(
    session_key: str, encrypted_data: str, iv: str, *, app_id: str
) -> dict[str, Any]:
    """The decrypted JSON object; ``MalformedPayload`` for anything that does
    not open cleanly, ``SignatureError`` for another app's watermark."""
    if len(encrypted_data) > MAX_ENCRYPTED_CHARS:
        raise MalformedPayload("encrypted data is too long")
    key = _b64(session_key, "session key")
    vector = _b64(iv, "iv")
    cipher_text = _b64(encrypted_data, "encrypted data")
    if len(key) != AES_BLOCK:
        raise MalformedPayload("session key is not 16 bytes")
    if len(vector) != AES_BLOCK:
        raise MalformedPayload("iv is not 16 bytes")
    if not cipher_text or len(cipher_text) % AES_BLOCK:
        raise MalformedPayload("encrypted data has a bad length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(vector)).decryptor()
    plain = decryptor.update(cipher_text) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= AES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise MalformedPayload("encrypted data has bad padding (wrong session key?)")
    try:
        data = json.loads(plain[:-pad].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload("encrypted data is not JSON (wrong session key?)") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("encrypted data is not a JSON object")
    watermark = data.get("watermark")
    stamped = watermark.get("appid") if isinstance(watermark, dict) else None
    if not isinstance(stamped, str) or not hmac.compare_digest(
        stamped.encode("utf-8"), app_id.encode("utf-8")
    ):
        raise SignatureError("encrypted data was made for another app")
    return data


def encrypt_user_data(
    session_key: str, data: dict[str, Any], *, iv: bytes | None = None
) -> tuple[str, str]:
    """The inverse, as WeChat does it: (encryptedData, iv), both base64.
    Used by the simulator's fake WeChat and by tests."""
    key = _b64(session_key, "session key")
    vector = os.urandom(AES_BLOCK) if iv is None else iv
    plain = json.dumps(data, ensure_ascii=False).encode("utf-8")
    pad = AES_BLOCK - len(plain) % AES_BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(vector)).encryptor()
    cipher_text = encryptor.update(plain) + encryptor.finalize()
    return base64.b64encode(cipher_text).decode("ascii"), base64.b64encode(vector).decode("ascii")
