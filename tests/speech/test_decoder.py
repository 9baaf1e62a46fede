"""The ffmpeg decoder: every channel's format, and the limits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.errors import AudioTooLarge, AudioTooLong, AudioUnreadable, SpeechUnavailable
from integrations.speech import SAMPLE_RATE, FFmpegDecoder
from integrations.speech.audio import amr_duration
from tests.speech_support import AISHELL_CLIPS, require_asr_assets, voice_bytes

pytestmark = pytest.mark.usefixtures("tools")


def _tone(seconds: float, folder: Path) -> bytes:
    """A 16 kHz wav of a quiet tone lasting ``seconds``."""
    target = folder / "tone.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(target),
         "synth", str(seconds), "sine", "440", "vol", "0.3"],
        check=True,
    )
    return target.read_bytes()


@pytest.mark.parametrize("audio_format", ["amr", "ogg", "mp3", "aac", "m4a", "spx", "wav"])
def test_every_channel_format_decodes_to_16k_mono(audio_format: str, tmp_path: Path) -> None:
    require_asr_assets()
    clip = AISHELL_CLIPS[1]  # 4.12 s
    audio = voice_bytes(clip, audio_format, tmp_path)
    decoded = FFmpegDecoder().decode(audio, audio_format=audio_format)
    assert decoded.duration_seconds == pytest.approx(4.12, abs=0.15)
    assert decoded.samples.dtype.name == "float32"
    assert len(decoded.samples) == pytest.approx(decoded.duration_seconds * SAMPLE_RATE, abs=1)
    assert 0.01 < float(abs(decoded.samples).max()) <= 1.0


def test_the_format_hint_is_optional(tmp_path: Path) -> None:
    require_asr_assets()
    audio = voice_bytes(AISHELL_CLIPS[0], "amr", tmp_path)
    assert FFmpegDecoder().decode(audio).duration_seconds == pytest.approx(4.2, abs=0.15)


def test_over_sixty_seconds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioTooLong) as refused:
        FFmpegDecoder().decode(_tone(61, tmp_path), audio_format="wav")
    assert refused.value.limit_seconds == 60
    assert refused.value.duration_seconds is not None
    assert refused.value.duration_seconds > 60
    assert "60 s limit" in str(refused.value)


def test_an_over_long_amr_note_is_measured_without_decoding(tmp_path: Path) -> None:
    _tone(61, tmp_path)
    amr = voice_bytes(tmp_path / "tone.wav", "amr")
    with pytest.raises(AudioTooLong) as refused:
        FFmpegDecoder(sox="/nonexistent/sox").decode(amr, audio_format="amr")
    assert refused.value.duration_seconds == pytest.approx(61, abs=0.05)


def test_amr_keeps_its_silent_frames(tmp_path: Path) -> None:
    """sox writes comfort-noise frames in pauses; ffmpeg's own decoder would drop them."""
    require_asr_assets()
    amr = voice_bytes(AISHELL_CLIPS[0], "amr", tmp_path)
    assert amr_duration(amr) == ("amr-nb", pytest.approx(4.2, abs=0.03))
    assert FFmpegDecoder().decode(amr).duration_seconds == pytest.approx(4.2, abs=0.03)


def test_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    decoded = FFmpegDecoder().decode(_tone(60, tmp_path), audio_format="wav")
    assert decoded.duration_seconds == pytest.approx(60, abs=0.01)


def test_the_caller_sets_a_shorter_limit(tmp_path: Path) -> None:
    with pytest.raises(AudioTooLong):
        FFmpegDecoder().decode(_tone(4, tmp_path), max_seconds=3)


def test_over_the_byte_limit_is_refused_before_decoding() -> None:
    with pytest.raises(AudioTooLarge) as refused:
        FFmpegDecoder(max_bytes=1000).decode(b"\x01" * 1001, max_seconds=60)
    assert isinstance(refused.value, AudioTooLong)
    assert refused.value.size_bytes == 1001
    assert refused.value.limit_bytes == 1000
    assert refused.value.duration_seconds is None


@pytest.mark.parametrize(
    ("audio", "audio_format"),
    [
        (b"", None),
        (b"\0" * 4096, "amr"),
        (bytes(range(256)) * 64, None),
        (b"#!AMR\n" + b"\xff\x13\x37" * 500, "amr"),
        (b"#!AMR\n" + b"\x3c" + b"\x01" * 20, "amr"),
        (b"#!AMR\n", None),
        (b"OggS" + b"\x00garbage" * 300, "ogg"),
        (b"\x02#!SILK_V3" + b"\x11" * 500, "amr"),
    ],
    ids=["empty", "zeros", "noise-bytes", "broken-amr", "truncated-amr", "amr-magic-only",
         "broken-ogg", "silk"],
)
def test_corrupt_audio_is_refused_clearly(audio: bytes, audio_format: str | None) -> None:
    with pytest.raises(AudioUnreadable) as refused:
        FFmpegDecoder().decode(audio, audio_format=audio_format)
    assert str(refused.value)


def test_a_truncated_note_is_refused_or_decoded_short(tmp_path: Path) -> None:
    require_asr_assets()
    audio = voice_bytes(AISHELL_CLIPS[0], "mp3", tmp_path)
    try:
        decoded = FFmpegDecoder().decode(audio[: len(audio) // 2], audio_format="mp3")
    except AudioUnreadable:
        return
    assert decoded.duration_seconds < 3


def test_decoding_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    with pytest.raises(AudioUnreadable, match="longer than"):
        FFmpegDecoder(timeout_seconds=0.001).decode(_tone(5, tmp_path), audio_format="wav")


def test_a_missing_ffmpeg_is_reported_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SpeechUnavailable):
        FFmpegDecoder(ffmpeg=str(tmp_path / "no-ffmpeg")).decode(b"RIFF" + b"\1" * 100)
