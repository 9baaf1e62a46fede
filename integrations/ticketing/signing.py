"""Signing status webhooks between a work-order service and the bot.

A webhook request carries three headers:

- ``X-Minhu-Delivery``: the delivery's id, the same on every retry, so the
  receiver can process it once;
- ``X-Minhu-Timestamp``: when this attempt was signed, in Unix seconds;
- ``X-Minhu-Signature``: ``sha256=`` + the hex HMAC-SHA256, keyed with the
  shared secret, of ``timestamp + "." + body`` (the raw body bytes).

Signing the timestamp with the body stops an old delivery from being
replayed outside ``tolerance`` seconds; the receiver checks the signature in
constant time before it parses the body.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from bot.errors import SignatureError

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "sign",
    "signed_headers",
    "verify",
]

DELIVERY_HEADER = "X-Minhu-Delivery"
TIMESTAMP_HEADER = "X-Minhu-Timestamp"
SIGNATURE_HEADER = "X-Minhu-Signature"
# How far a signed timestamp may be from the receiver's clock.
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Minhu-Signature`` value for ``body`` signed at ``timestamp``."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(
    secret: str, delivery_id: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "Content-Type": "application/json; charset=utf-8",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a webhook's signature; return its delivery id.

    ``headers`` must look names up case-insensitively (httpx, Starlette).
    Raises ``SignatureError`` for a missing, stale or wrong signature.
    """
    if not secret:
        raise SignatureError("no webhook secret is configured")
    delivery_id = headers.get(DELIVERY_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not delivery_id or not timestamp or not given:
        raise SignatureError("webhook signature headers are missing")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise SignatureError("webhook timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        raise SignatureError("webhook timestamp is outside the tolerance")
    expected = sign(secret, signed_at, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace")):
        raise SignatureError("webhook signature does not match")
    if len(delivery_id) > 128:
        raise SignatureError("webhook delivery id is too long")
    return delivery_id
