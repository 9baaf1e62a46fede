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
    ├── DeliveryError              a message could not be delivered now (retry_after: a hint)
    │   ├── WindowClosed           the channel's reply window is shut
    │   └── PermanentDeliveryError retrying will not help (blocked, bad id)
    │       └── ReplyWindowClosed  staff cannot write now; offer a subscribe message
    ├── HandoffError               a staff handoff operation is not possible
    │   ├── HandoffNotFound        no such case
    │   ├── HandoffConflict        claimed by someone else, or already closed
    │   └── ReplyWindowClosed      (also a WindowClosed, above)
    ├── ChannelAPIError            a channel API answered with an error code
    │   └── TokenExpired           its access token is invalid; refresh once
    └── BackendError               the ticket backend failed
        ├── BackendUnavailable     it is down, timed out or answered 5xx; retry later
        ├── BackendRejected        it refused the request (4xx); retrying will not help
        │   ├── TicketNotFound     no such ticket (or not the resident's)
        │   └── AlreadyRated       the ticket has its one rating already
        └── UnsupportedByBackend   this backend has no such operation (plain Open311)
    SpeechError                    a voice note could not be turned into text
    ├── AudioTooLong               longer than the limit (or, AudioTooLarge, bigger in bytes)
    ├── AudioUnreadable            empty, corrupt, or in a format ffmpeg cannot decode
    ├── SpeechBusy                 the transcription queue is full (back-pressure; retry later)
    └── SpeechUnavailable          the engine or its model is not installed or failed to load
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AlreadyRated",
    "AudioTooLarge",
    "AudioTooLong",
    "AudioUnreadable",
    "BackendError",
    "BackendRejected",
    "BackendUnavailable",
    "BadRequest",
    "ChannelAPIError",
    "ConcurrentUpdate",
    "DeliveryError",
    "HandoffConflict",
    "HandoffError",
    "HandoffNotFound",
    "MalformedPayload",
    "MinhuError",
    "PayloadTooLarge",
    "PermanentDeliveryError",
    "ReplyWindowClosed",
    "SignatureError",
    "SpeechBusy",
    "SpeechError",
    "SpeechUnavailable",
    "StorageError",
    "TicketNotFound",
    "TokenExpired",
    "UnderstandingError",
    "UnsupportedByBackend",
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
    """``retry_after``: the channel's "not again before this many seconds"
    (Telegram's flood control); the outbox waits at least that long."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WindowClosed(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class HandoffError(MinhuError):
    pass


class HandoffNotFound(HandoffError):
    pass


class HandoffConflict(HandoffError):
    pass


class ReplyWindowClosed(HandoffError, WindowClosed):
    """Raised by ``HandoffDesk.reply``: the channel's window for pushes is shut
    (WeChat: 48 h after the resident's last message, or its 5 pushes used).
    ``closes_at``/``remaining`` describe the window as it was."""

    def __init__(
        self, message: str, *, closes_at: datetime | None = None, remaining: int | None = None
    ) -> None:
        super().__init__(message)
        self.closes_at = closes_at
        self.remaining = remaining


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


class BackendRejected(BackendError):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TicketNotFound(BackendRejected):
    pass


class AlreadyRated(BackendRejected):
    """One rating per matter: the backend has this ticket's rating already."""


class UnsupportedByBackend(BackendError):
    pass


class SpeechError(MinhuError):
    pass


class AudioTooLong(SpeechError):
    """The voice note is over the length limit; nothing was transcribed.

    ``duration_seconds`` is the measured length, or None when the note was
    refused by its size before it was decoded (see AudioTooLarge).
    """

    def __init__(self, duration_seconds: float | None, limit_seconds: float) -> None:
        if duration_seconds is None:
            message = f"audio is over the {limit_seconds:g} s limit"
        else:
            message = f"audio lasts {duration_seconds:.1f} s, over the {limit_seconds:g} s limit"
        super().__init__(message)
        self.duration_seconds = duration_seconds
        self.limit_seconds = limit_seconds


class AudioTooLarge(AudioTooLong):
    """The voice note's file is over the byte limit (refused before decoding)."""

    def __init__(self, size_bytes: int, limit_bytes: int, limit_seconds: float) -> None:
        super().__init__(None, limit_seconds)
        self.args = (f"audio is {size_bytes} bytes, over the {limit_bytes} byte limit",)
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class AudioUnreadable(SpeechError):
    pass


class SpeechBusy(SpeechError):
    pass


class SpeechUnavailable(SpeechError):
    pass
