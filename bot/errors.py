"""minhu's exception tree.

Adapters convert foreign errors (httpx, SQLAlchemy, XML parsers, channel
APIs) into these and keep the original as ``__cause__``::

    MinhuError
    ├── BadRequest                 input we refuse; answered with a 4xx
    │   ├── SignatureError         forged or missing signature (403)
    │   ├── PayloadTooLarge        body over the configured limit (413)
    │   └── MalformedPayload       XML/JSON we cannot or will not parse (400)
    ├── StorageError               the database failed or is unreachable
    │   └── ConcurrentUpdate       optimistic lock lost; reload and retry
    ├── UnderstandingError         the NLU service failed (fallback applies)
    ├── DeliveryError              a message could not be delivered now
    │   ├── WindowClosed           the channel's reply window is shut
    │   └── PermanentDeliveryError retrying will not help (blocked, bad id)
    ├── ChannelAPIError            a channel API answered with an error code
    │   └── TokenExpired           its access token is invalid; refresh once
    └── BackendError               the ticket backend failed
        └── BackendUnavailable     it is down or timed out; retry later
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BadRequest",
    "ChannelAPIError",
    "ConcurrentUpdate",
    "DeliveryError",
    "MalformedPayload",
    "MinhuError",
    "PayloadTooLarge",
    "PermanentDeliveryError",
    "SignatureError",
    "StorageError",
    "TokenExpired",
    "UnderstandingError",
    "WindowClosed",
]


class MinhuError(Exception):
    """Base of every error minhu raises on purpose."""


class BadRequest(MinhuError):
    status_code = 400


class SignatureError(BadRequest):
    status_code = 403


class PayloadTooLarge(BadRequest):
    status_code = 413


class MalformedPayload(BadRequest):
    status_code = 400


class StorageError(MinhuError):
    pass


class ConcurrentUpdate(StorageError):
    pass


class UnderstandingError(MinhuError):
    pass


class DeliveryError(MinhuError):
    pass


class WindowClosed(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class ChannelAPIError(MinhuError):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TokenExpired(ChannelAPIError):
    pass


class BackendError(MinhuError):
    pass


class BackendUnavailable(BackendError):
    pass
