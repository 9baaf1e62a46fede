"""Voice notes into the dialogue: fetch the audio, turn it into text, off the request path.

A voice note without a transcript goes through :class:`bot.ingest.Ingest`
like any other message: the journal makes it durable first, and the webhook
is answered within its passive budget whatever happens next. Only then, in
the background turn, :class:`VoiceNotes` fetches the audio from the
channel (an :class:`AudioSource`) and hands it to the ``SpeechToText`` port
(a bounded worker pool). The turn runs on the message with the transcript
in ``text`` and ``asr="ok"``, or with ``asr`` naming why there is none::

    webhook ─► journal.accept ─► turn task: fetch ─► transcribe ─► dispatcher ─► commit
       ▲                                │ not done after ``interim_after`` s
       └─ "正在识别语音…" (passive, ◄────┘ or pushed through the outbox)

Nothing is lost on a crash: until the turn commits, the journal holds the
voice note as unfinished, and recovery runs it again (download and all).
Back-pressure: a full pool raises ``SpeechBusy`` at once and the resident
is asked to send it again or type, instead of the queue growing without end.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from prometheus_client import Counter, Histogram

from bot.errors import (
    AudioTooLarge,
    AudioTooLong,
    AudioUnreadable,
    MinhuError,
    PayloadTooLarge,
    SpeechBusy,
    SpeechUnavailable,
)
from bot.ports import SpeechToText
from bot.types import Channel, InboundKind, InboundMessage, OutboundMessage

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INTERIM_REPLY",
    "AsrStatus",
    "AudioSource",
    "VoiceNotes",
]

log = logging.getLogger("minhu.voice")

# What the resident sees at once when the transcript will not make the passive reply.
INTERIM_REPLY = OutboundMessage.of_text("正在识别语音…")
# Per channel, the largest voice file we fetch: WeChat's voice media is at most
# 2 MB; a Telegram or mini-program note of 60 s is far below 2 MB too.
DEFAULT_MAX_BYTES: Mapping[Channel, int] = {
    Channel.WECHAT: 2 * 1024 * 1024,
    Channel.TELEGRAM: 2 * 1024 * 1024,
    Channel.MINIPROGRAM: 2 * 1024 * 1024,
}

VOICE_NOTES = Counter(
    "minhu_voice_notes_total",
    "Voice notes without a channel transcript, by channel and outcome (ok, too_long, busy...).",
    ["channel", "outcome"],
)
VOICE_SECONDS = Histogram(
    "minhu_voice_seconds",
    "Time from fetching a voice note to its transcript (download, queue, recognition).",
    buckets=(0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 10, 20),
)


class AsrStatus(enum.StrEnum):
    """``InboundMessage.asr``: what became of a voice note."""

    OK = "ok"                    # ``text`` is the transcript
    SILENT = "silent"            # decoded, but nothing was said
    TOO_LONG = "too_long"        # over the length limit
    TOO_LARGE = "too_large"      # over the channel's (or the engine's) size limit
    UNREADABLE = "unreadable"    # empty, corrupt or not audio
    BUSY = "busy"                # the transcription queue is full
    UNAVAILABLE = "unavailable"  # no engine, or it failed
    NOT_FETCHED = "not_fetched"  # the channel would not give us the audio


class AudioSource(Protocol):
    """Where a channel keeps the audio of a voice note (WeChat's media API,
    Telegram's getFile, the mini-program's uploads)."""

    async def fetch(self, message: InboundMessage, *, max_bytes: int) -> bytes:
        """The bytes of ``message``'s voice note. Raises ``PayloadTooLarge`` over
        ``max_bytes``, and another ``MinhuError`` when it cannot be fetched."""
        ...


class VoiceNotes:
    """Turns a voice note without a transcript into one with a transcript (or
    with the reason it has none). Used by :class:`bot.ingest.Ingest`."""

    def __init__(
        self,
        speech: SpeechToText,
        sources: Mapping[Channel, AudioSource],
        *,
        max_seconds: float = 60.0,
        max_bytes: Mapping[Channel, int] | None = None,
        interim_after: float = 1.5,
    ) -> None:
        if interim_after < 0:
            raise ValueError("interim_after must not be negative")
        self._speech = speech
        self._sources = dict(sources)
        self.max_seconds = max_seconds
        self._max_bytes = {**DEFAULT_MAX_BYTES, **(max_bytes or {})}
        # After this long without a transcript the resident hears INTERIM_REPLY.
        self.interim_after = interim_after

    def interim_delay(self) -> float:
        """How long a waiting webhook may hold out for the transcript: nothing
        when every worker of the pool is taken (the note would queue, so it
        cannot make a passive reply), else ``interim_after``."""
        in_flight = getattr(self._speech, "in_flight", None)
        workers = getattr(self._speech, "workers", None)
        if isinstance(in_flight, int) and isinstance(workers, int) and in_flight >= workers:
            return 0.0
        return self.interim_after

    def add_source(self, channel: Channel, source: AudioSource) -> None:
        self._sources[channel] = source

    def wants(self, message: InboundMessage) -> bool:
        """A voice note we can fetch and that has no transcript yet."""
        return (
            message.kind is InboundKind.VOICE
            and message.asr is None
            and not (message.text or "").strip()
            and message.payload is None
            and bool(message.media_id)
            and message.key.channel in self._sources
        )

    def max_bytes(self, channel: Channel) -> int:
        return self._max_bytes.get(channel, 2 * 1024 * 1024)

    async def transcribe(self, message: InboundMessage) -> InboundMessage:
        """``message`` with the transcript in ``text`` and ``asr`` set. Never
        raises for the audio or the engine: the reason goes in ``asr``."""
        started = time.perf_counter()
        channel = message.key.channel
        status, text, detail = await self._run(message)
        spent = time.perf_counter() - started
        VOICE_NOTES.labels(channel.value, status.value).inc()
        if status is AsrStatus.OK:
            VOICE_SECONDS.observe(spent)
        # The transcript is the resident's words: never logged.
        log.info(
            "voice note %s in %.2f s%s", status.value, spent, f" ({detail})" if detail else "",
            extra={"conversation": message.key.as_str(), "message_id": message.message_id},
        )
        return replace(message, text=text, asr=status.value)

    async def _run(self, message: InboundMessage) -> tuple[AsrStatus, str | None, str]:
        channel = message.key.channel
        source = self._sources[channel]
        try:
            audio = await source.fetch(message, max_bytes=self.max_bytes(channel))
        except PayloadTooLarge as exc:
            return AsrStatus.TOO_LARGE, None, str(exc)
        except MinhuError as exc:
            return AsrStatus.NOT_FETCHED, None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a channel client's own error: still answer the resident
            log.exception("fetching a voice note failed")
            return AsrStatus.NOT_FETCHED, None, type(exc).__name__
        if len(audio) > self.max_bytes(channel):
            return AsrStatus.TOO_LARGE, None, f"{len(audio)} bytes"
        try:
            transcript = await self._speech.transcribe(
                audio, audio_format=message.media_format, max_seconds=self.max_seconds
            )
        except AudioTooLarge as exc:
            return AsrStatus.TOO_LARGE, None, str(exc)
        except AudioTooLong as exc:
            return AsrStatus.TOO_LONG, None, str(exc)
        except AudioUnreadable as exc:
            return AsrStatus.UNREADABLE, None, str(exc)
        except SpeechBusy as exc:
            return AsrStatus.BUSY, None, str(exc)
        except SpeechUnavailable as exc:
            return AsrStatus.UNAVAILABLE, None, str(exc)
        except Exception as exc:
            log.exception("speech recognition failed")
            return AsrStatus.UNAVAILABLE, None, type(exc).__name__
        text = transcript.text.strip()
        if not text:
            return AsrStatus.SILENT, None, f"{transcript.duration_seconds:.1f} s"
        detail = (
            f"{transcript.duration_seconds:.1f} s of audio, "
            f"{transcript.seconds_spent:.2f} s recognising, {transcript.engine}"
        )
        return AsrStatus.OK, text, detail
