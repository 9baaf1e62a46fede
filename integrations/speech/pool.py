"""A bounded pool that runs transcriptions off the event loop.

``workers`` threads run the engine (CTranslate2 and ffmpeg release the GIL,
so threads use both cores without a process per model copy). At most
``workers + queue_limit`` notes are admitted at once; the next one is refused
straight away with SpeechBusy, so a burst of voice notes turns into a clear
"busy" reply instead of an ever-growing backlog. Admission is decided on the
event loop with no waiting: ``transcribe`` never blocks the loop. With
``nice`` > 0 the workers run at a lower CPU priority, so on a busy two-core
machine the webhook's event loop gets the CPU before recognition does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from bot.errors import SpeechBusy
from bot.ports import Transcript

__all__ = ["SyncSpeechEngine", "TranscriptionPool"]


class SyncSpeechEngine(Protocol):
    """What the pool runs in its threads (WhisperEngine, or a fake in tests)."""

    def transcribe_sync(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript: ...


class TranscriptionPool:
    """SpeechToText over a synchronous engine, with a queue limit and back-pressure."""

    def __init__(
        self, engine: SyncSpeechEngine, workers: int = 1, queue_limit: int = 8, *, nice: int = 0
    ) -> None:
        if workers < 1 or queue_limit < 0:
            raise ValueError("workers must be >= 1 and queue_limit >= 0")
        self.engine = engine
        self.workers = workers
        self.queue_limit = queue_limit
        self.nice = nice
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="minhu-asr", initializer=self._lower_priority
        )
        self._admitted = 0
        self._lock = threading.Lock()
        self._closed = False

    def _lower_priority(self) -> None:
        """Make this worker thread yield the CPU to the event loop's thread.

        On Linux niceness belongs to each thread and is inherited by the threads
        and processes it starts: CTranslate2's threads (the model is loaded in a
        worker) and ffmpeg. Raising it needs no privilege.
        """
        if self.nice > 0 and hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)

    @property
    def capacity(self) -> int:
        """Notes admitted at once: running plus waiting."""
        return self.workers + self.queue_limit

    @property
    def in_flight(self) -> int:
        """Notes admitted and not yet finished (running or queued)."""
        return self._admitted

    def _release(self, _done: Future[Transcript]) -> None:
        with self._lock:
            self._admitted -= 1

    async def transcribe(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript:
        with self._lock:
            if self._closed:
                raise SpeechBusy("the transcription pool is shut down")
            if self._admitted >= self.capacity:
                raise SpeechBusy(
                    f"{self._admitted} voice notes are already being transcribed or waiting"
                )
            self._admitted += 1
        try:
            job = self._executor.submit(
                self.engine.transcribe_sync, audio,
                audio_format=audio_format, max_seconds=max_seconds,
            )
        except RuntimeError as exc:  # the executor was shut down meanwhile
            with self._lock:
                self._admitted -= 1
            raise SpeechBusy("the transcription pool is shut down") from exc
        # The slot is freed when the work ends, even if the caller stops waiting.
        job.add_done_callback(self._release)
        return await asyncio.wrap_future(job)

    async def warm_up(self) -> None:
        """Load the engine's model now, in a thread (SpeechUnavailable if it cannot be)."""
        load = getattr(self.engine, "load", None)
        if load is not None:
            # In a worker, so the model's own threads inherit the worker's priority.
            await asyncio.wrap_future(self._executor.submit(load))

    async def close(self) -> None:
        """Refuse new notes, let running ones finish, drop the queued ones."""
        with self._lock:
            self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
