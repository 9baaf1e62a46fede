"""The real speech engine and real voice clips, for tests that want them.

``scripts/asr-env.sh`` (run by ``make setup``) assembles the model under
var/models and builds the clips under var/asr. Without them the tests that
need them are skipped, unless ``MINHU_TEST_ASR=required`` (``make test`` sets
it), which turns a missing asset into a failure.

For other suites (tests/voice/...)::

    from tests.speech_support import real_engine, voice_bytes

    @pytest.fixture(scope="session")
    def speech_engine() -> WhisperEngine:
        return real_engine()          # loaded once per session, offline

    amr = voice_bytes(AISHELL_CLIPS[0], "amr")   # WeChat's format, made with sox
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from integrations.speech import TranscriptionPool, WhisperEngine, load_domain_words
from integrations.speech.models import named_folder

ROOT = Path(__file__).resolve().parents[1]
ASR_ENV = "MINHU_TEST_ASR"
MODEL_DIR = ROOT / "var" / "models"
SETS = ROOT / "var" / "asr"
AISHELL = SETS / "aishell"
AISHELL_CLIPS = (AISHELL / "BAC009S0764W0121.wav", AISHELL / "BAC009S0764W0122.wav")
NOTE10 = SETS / "note10" / "aishell-10s.wav"
RIDER = SETS / "rider"

__all__ = [
    "AISHELL",
    "AISHELL_CLIPS",
    "MODEL_DIR",
    "NOTE10",
    "RIDER",
    "SETS",
    "model_folder",
    "real_engine",
    "real_pool",
    "require_asr_assets",
    "require_tools",
    "voice_bytes",
]


def _missing(reason: str) -> None:
    if os.environ.get(ASR_ENV, "") in ("1", "required"):
        pytest.fail(f"{ASR_ENV} is set but {reason} (run scripts/asr-env.sh)")
    pytest.skip(f"{reason}: run scripts/asr-env.sh")


def require_tools() -> None:
    """ffmpeg and sox (with AMR) are installed, or skip/fail."""
    for tool in ("ffmpeg", "sox"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is not installed")


def model_folder() -> Path:
    return named_folder("base", MODEL_DIR)


def require_asr_assets() -> None:
    """The assembled model and the eval clips exist, or skip/fail."""
    require_tools()
    if not (model_folder() / "model.bin").is_file():
        _missing(f"no assembled model at {model_folder()}")
    if not all(clip.is_file() for clip in (*AISHELL_CLIPS, NOTE10)):
        _missing(f"no evaluation clips under {SETS}")


@lru_cache(maxsize=1)
def _loaded_engine() -> WhisperEngine:
    # Belt and braces: the folder exists, and nothing may reach the hub anyway.
    os.environ["HF_HUB_OFFLINE"] = "1"
    engine = WhisperEngine(model_folder(), domain_words=load_domain_words(), label="base")
    engine.load()
    return engine


def real_engine() -> WhisperEngine:
    """The default engine (base, int8, prompt), loaded once per test session."""
    require_asr_assets()
    return _loaded_engine()


def real_pool(workers: int = 1, queue_limit: int = 4) -> TranscriptionPool:
    """A fresh pool over the shared real engine (close it after the test)."""
    return TranscriptionPool(real_engine(), workers=workers, queue_limit=queue_limit)


# How each channel's format is made from a wav (WeChat: AMR-NB; Telegram: OGG/Opus at
# 48 kHz; mini-program: mp3, ADTS aac or m4a).
_ENCODERS: dict[str, list[str]] = {
    "ogg": ["-ar", "48000", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"],
    "aac": ["-c:a", "aac", "-b:a", "32k", "-f", "adts"],
    "m4a": ["-c:a", "aac", "-b:a", "32k", "-f", "ipod"],
    "spx": ["-c:a", "libspeex", "-ar", "16000", "-f", "ogg"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}


def voice_bytes(wav: Path, audio_format: str, folder: Path | None = None) -> bytes:
    """``wav`` re-encoded as ``audio_format`` (amr, ogg, mp3, aac, m4a, spx, wav)."""
    require_tools()
    if audio_format == "amr":
        # Debian's ffmpeg has no AMR encoder; sox (libsox-fmt-all) has.
        out = subprocess.run(
            ["sox", str(wav), "-r", "8000", "-c", "1", "-t", "amr-nb", "-C", "7", "-"],
            capture_output=True, check=True,
        )
        return out.stdout
    if audio_format == "m4a":
        # mp4 needs a seekable output.
        import tempfile

        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            target = Path(tmp) / "note.m4a"
            subprocess.run(
                ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
                 *_ENCODERS["m4a"], str(target)],
                check=True,
            )
            return target.read_bytes()
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav),
         *_ENCODERS[audio_format], "pipe:1"],
        capture_output=True, check=True,
    )
    return out.stdout
