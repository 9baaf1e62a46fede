"""The real engine (Whisper base, int8) on the real public clips, offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.errors import AudioTooLong, AudioUnreadable
from integrations.speech import WhisperEngine, load_domain_words, to_simplified
from integrations.speech.engine import tidy_text
from integrations.speech.evaluation import edit_distance, evaluate, scoring_form
from tests.speech_support import AISHELL, AISHELL_CLIPS, NOTE10, real_pool, voice_bytes

pytestmark = pytest.mark.slow


def test_cer_on_the_public_aishell_clips_is_at_most_15_percent(
    speech_engine: WhisperEngine,
) -> None:
    report = evaluate(AISHELL, lambda audio, fmt: speech_engine.transcribe_sync(
        audio, audio_format=fmt))
    assert len(report.clips) == 2
    assert report.failures == 0
    assert report.cer <= 0.15, [c.hypothesis for c in report.clips]


def test_a_ten_second_note_comes_back_simplified_and_trimmed(
    speech_engine: WhisperEngine,
) -> None:
    transcript = speech_engine.transcribe_sync(NOTE10.read_bytes(), audio_format="wav")
    assert transcript.duration_seconds == pytest.approx(10.02, abs=0.05)
    assert transcript.text == transcript.text.strip()
    assert transcript.text == to_simplified(transcript.text)
    reference = scoring_form(NOTE10.with_suffix(".txt").read_text(encoding="utf-8"))
    assert edit_distance(reference, scoring_form(transcript.text)) <= 0.2 * len(reference)
    assert transcript.engine == "faster-whisper:base-int8"
    # Generous: the bench measures the 3 s target; this only catches runaway decoding.
    assert transcript.seconds_spent < 20


@pytest.mark.parametrize("audio_format", ["amr", "ogg", "mp3", "m4a"])
def test_each_channel_format_is_understood(
    speech_engine: WhisperEngine, audio_format: str, tmp_path: Path
) -> None:
    clip = AISHELL_CLIPS[1]
    audio = voice_bytes(clip, audio_format, tmp_path)
    transcript = speech_engine.transcribe_sync(audio, audio_format=audio_format)
    reference = scoring_form(clip.with_suffix(".txt").read_text(encoding="utf-8"))
    assert edit_distance(reference, scoring_form(transcript.text)) <= 0.3 * len(reference), (
        transcript.text)


def test_silence_gives_an_empty_text(speech_engine: WhisperEngine, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(quiet),
                    "trim", "0", "3"], check=True)
    transcript = speech_engine.transcribe_sync(quiet.read_bytes(), audio_format="wav")
    assert transcript.text == ""
    assert transcript.duration_seconds == pytest.approx(3.0, abs=0.01)


def test_the_engine_passes_the_decoder_refusals_on(speech_engine: WhisperEngine) -> None:
    with pytest.raises(AudioUnreadable):
        speech_engine.transcribe_sync(b"not audio at all" * 10, audio_format="amr")
    with pytest.raises(AudioTooLong):
        speech_engine.transcribe_sync(NOTE10.read_bytes(), max_seconds=5)


async def test_the_pool_runs_the_real_engine(speech_engine: WhisperEngine) -> None:
    pool = real_pool(workers=1, queue_limit=1)
    try:
        transcript = await pool.transcribe(AISHELL_CLIPS[1].read_bytes(), audio_format="wav")
    finally:
        await pool.close()
    assert "调整" in transcript.text


def test_the_prompt_carries_the_domain_words() -> None:
    words = load_domain_words()
    assert {"小区", "外卖", "骑手", "充电", "驿站"} <= set(words)
    assert len(words) == len(set(words))
    engine = WhisperEngine("unused", domain_words=words[:3])
    assert engine.prompt == f"以下是普通话的居民来电：{'、'.join(words[:3])}。"


def test_traditional_output_is_made_simplified() -> None:
    assert to_simplified("一二線城市雖然也處於調整中") == "一二线城市虽然也处于调整中"


def test_the_text_is_tidied_for_reading_back() -> None:
    said = " 甚至出现交易几乎停滞的情况,一二線 城市?  "
    assert tidy_text(said) == "甚至出现交易几乎停滞的情况，一二线城市？"
    assert tidy_text("3号楼 2单元, OK") == "3号楼 2单元，OK"
    assert tidy_text("OK , 好的") == "OK，好的"
    assert tidy_text("3, 5 and 7") == "3, 5 and 7"
