"""The SpeechToText port's contract, on the app's implementation (the pool over
the real engine). Run with real audio, so it needs scripts/asr-env.sh's assets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.errors import AudioTooLong, AudioUnreadable
from bot.ports import SpeechToText, Transcript
from tests.speech_support import AISHELL_CLIPS, NOTE10, real_pool, voice_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
async def speech() -> AsyncIterator[SpeechToText]:
    pool = real_pool(workers=1, queue_limit=2)
    yield pool
    await pool.close()


async def test_a_voice_note_becomes_a_transcript(speech: SpeechToText) -> None:
    audio = voice_bytes(AISHELL_CLIPS[1], "ogg")
    transcript = await speech.transcribe(audio, audio_format="ogg")
    assert isinstance(transcript, Transcript)
    assert transcript.text and transcript.text == transcript.text.strip()
    assert transcript.duration_seconds == pytest.approx(4.12, abs=0.1)
    assert 0 < transcript.seconds_spent < 30
    assert transcript.engine


async def test_the_format_hint_may_be_left_out(speech: SpeechToText) -> None:
    transcript = await speech.transcribe(voice_bytes(AISHELL_CLIPS[1], "amr"))
    assert transcript.text


async def test_over_the_callers_limit_is_refused(speech: SpeechToText) -> None:
    with pytest.raises(AudioTooLong) as refused:
        await speech.transcribe(NOTE10.read_bytes(), audio_format="wav", max_seconds=8)
    assert refused.value.limit_seconds == 8


@pytest.mark.parametrize("audio", [b"", b"\x00\x01garbage" * 50])
async def test_unreadable_audio_is_refused(speech: SpeechToText, audio: bytes) -> None:
    with pytest.raises(AudioUnreadable):
        await speech.transcribe(audio, audio_format="amr")
