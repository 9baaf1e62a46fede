"""Speech-to-text for voice notes (issue 6): the adapter behind ``bot.ports.SpeechToText``.

``audio``       ffmpeg decoding to 16 kHz mono with size, length and time limits
``engine``      faster-whisper (int8, zh, VAD, domain prompt, beam 1, T=0) + OpenCC t2s
``pool``        TranscriptionPool: bounded worker threads, SpeechBusy when full
``models``      model catalogue, install-time assembly, name -> folder resolution
``evaluation``  character error rate and real-time factor over a folder of clips
"""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings

from .audio import SAMPLE_RATE, DecodedAudio, FFmpegDecoder
from .engine import WhisperEngine, load_domain_words, to_simplified
from .models import CATALOGUE, resolve_model
from .pool import SyncSpeechEngine, TranscriptionPool

__all__ = [
    "CATALOGUE",
    "SAMPLE_RATE",
    "DecodedAudio",
    "FFmpegDecoder",
    "SyncSpeechEngine",
    "TranscriptionPool",
    "WhisperEngine",
    "engine_from_settings",
    "load_domain_words",
    "pool_from_settings",
    "resolve_model",
    "to_simplified",
]


def engine_from_settings(settings: Settings, *, lazy: bool = False) -> WhisperEngine:
    """A WhisperEngine as ``MINHU_ASR_*`` configure it (the model is not loaded yet).

    Raises SpeechUnavailable when a named model is neither installed nor
    allowed to be downloaded; with ``lazy`` that is left to the first load
    (which is also when production's one-time download happens).
    """

    def find() -> Path:
        return resolve_model(
            settings.asr_model, settings.asr_model_dir,
            allow_download=settings.asr_allow_download,
        )

    named = settings.asr_model in CATALOGUE
    return WhisperEngine(
        find if lazy else find(),
        decoder=FFmpegDecoder(
            max_bytes=settings.asr_max_bytes,
            timeout_seconds=settings.asr_decode_timeout_seconds,
        ),
        cpu_threads=settings.asr_cpu_threads,
        workers=settings.asr_workers,
        domain_words=load_domain_words(settings.asr_prompt_file or None),
        label=settings.asr_model if named else None,
    )


def pool_from_settings(settings: Settings) -> TranscriptionPool:
    """The SpeechToText the app uses: the engine behind a bounded pool.

    Never fails here: a missing model shows up as SpeechUnavailable from
    ``transcribe`` (or from ``warm_up``, which the app may await at start).
    """
    return TranscriptionPool(
        engine_from_settings(settings, lazy=True),
        workers=settings.asr_workers,
        queue_limit=settings.asr_queue_limit,
        nice=settings.asr_nice,
    )
