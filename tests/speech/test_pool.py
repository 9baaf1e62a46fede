"""TranscriptionPool: bounded, refuses when full, never holds up the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from bot.errors import AudioUnreadable, SpeechBusy
from bot.ports import SpeechToText, Transcript
from integrations.speech import TranscriptionPool


class GatedEngine:
    """A synchronous engine that blocks its worker thread until the gate opens."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = 0
        self.threads: set[str] = set()

    def transcribe_sync(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript:
        self.started += 1
        self.threads.add(threading.current_thread().name)
        if not self.gate.wait(timeout=10):
            raise TimeoutError("the test never opened the gate")
        if audio == b"corrupt":
            raise AudioUnreadable("cannot decode the audio")
        return Transcript(text=audio.decode(), duration_seconds=1.0, seconds_spent=0.01,
                          engine="gated")


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_the_pool_is_a_speech_to_text_port() -> None:
    pool: SpeechToText = TranscriptionPool(GatedEngine(), workers=1, queue_limit=0)
    assert pool is not None


async def test_one_note_more_than_workers_plus_queue_is_refused_at_once() -> None:
    engine = GatedEngine()
    pool = TranscriptionPool(engine, workers=1, queue_limit=2)
    assert pool.capacity == 3
    admitted = [asyncio.create_task(pool.transcribe(f"note {i}".encode())) for i in range(3)]
    await _until(lambda: engine.started == 1)
    assert pool.in_flight == 3
    started = time.perf_counter()
    with pytest.raises(SpeechBusy):
        await pool.transcribe(b"one too many")
    assert time.perf_counter() - started < 0.05
    engine.gate.set()
    texts = [t.text for t in await asyncio.gather(*admitted)]
    assert texts == ["note 0", "note 1", "note 2"]
    await _until(lambda: pool.in_flight == 0)
    assert (await pool.transcribe(b"room again")).text == "room again"
    await pool.close()


async def test_the_event_loop_keeps_running_while_every_worker_is_busy() -> None:
    engine = GatedEngine()
    pool = TranscriptionPool(engine, workers=2, queue_limit=2)
    jobs = [asyncio.create_task(pool.transcribe(b"x")) for _ in range(4)]
    await _until(lambda: engine.started == 2)
    gaps = []
    for _ in range(20):
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        gaps.append(time.perf_counter() - before)
    assert max(gaps) < 0.05
    assert len(engine.threads) == 2
    assert all(name.startswith("minhu-asr") for name in engine.threads)
    engine.gate.set()
    await asyncio.gather(*jobs)
    await pool.close()


async def test_a_caller_that_stops_waiting_frees_its_slot_when_the_work_ends() -> None:
    engine = GatedEngine()
    pool = TranscriptionPool(engine, workers=1, queue_limit=0)
    waiting = asyncio.create_task(pool.transcribe(b"abandoned"))
    await _until(lambda: engine.started == 1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # The thread is still busy with it, so the pool is still full...
    with pytest.raises(SpeechBusy):
        await pool.transcribe(b"too soon")
    engine.gate.set()
    await _until(lambda: pool.in_flight == 0)
    assert (await pool.transcribe(b"next")).text == "next"
    await pool.close()


async def test_engine_errors_reach_the_caller_and_free_the_slot() -> None:
    engine = GatedEngine()
    engine.gate.set()
    pool = TranscriptionPool(engine, workers=1, queue_limit=0)
    with pytest.raises(AudioUnreadable):
        await pool.transcribe(b"corrupt")
    assert pool.in_flight == 0
    await pool.close()


async def test_a_closed_pool_refuses_new_notes() -> None:
    pool = TranscriptionPool(GatedEngine(), workers=1, queue_limit=1)
    await pool.close()
    with pytest.raises(SpeechBusy):
        await pool.transcribe(b"late")


def test_nonsense_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        TranscriptionPool(GatedEngine(), workers=0)
    with pytest.raises(ValueError):
        TranscriptionPool(GatedEngine(), workers=1, queue_limit=-1)


async def test_workers_run_at_the_configured_lower_priority() -> None:
    import os

    seen: list[int] = []

    class Probe(GatedEngine):
        def load(self) -> None:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    engine = Probe()
    engine.gate.set()
    pool = TranscriptionPool(engine, workers=1, queue_limit=0, nice=7)
    await pool.warm_up()
    await pool.close()
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    # An absolute niceness; a process already nicer than that keeps its own.
    assert seen == [max(base, 7)]
