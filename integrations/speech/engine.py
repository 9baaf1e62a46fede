"""The default speech-to-text engine: faster-whisper (CTranslate2) on the CPU.

Decoding settings chosen for short Mandarin voice notes on two cores: int8
weights, language fixed to Chinese, Silero voice-activity filtering, greedy
search (beam 1) at temperature 0 with no fallback re-decoding, no carry-over
of earlier text, and a prompt of place and service words. The prompt, written
in Simplified Chinese, also steers the model away from Traditional characters
and Arabic digits; OpenCC's t2s runs on the output anyway.

The engine is synchronous and thread-safe (CTranslate2 serves up to
``workers`` calls at once); ``TranscriptionPool`` runs it off the event loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from bot.errors import SpeechUnavailable
from bot.ports import Transcript

from .audio import DecodedAudio, FFmpegDecoder

__all__ = ["WhisperEngine", "load_domain_words", "tidy_text", "to_simplified"]

_PROMPT_LEAD = "以下是普通话的居民来电："
_WORD_SPLIT = re.compile(r"[\s、，,]+")
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")
# Whisper sometimes puts ASCII punctuation in Chinese text ("情况,一二线").
_CJK = "\u3000-\u9fff\uff00-\uffef"
_ASCII_MARK = re.compile(rf"(?<=[{_CJK}])\s*([,?!:;])\s*|\s*([,?!:;])\s*(?=[{_CJK}])")
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}


def tidy_text(text: str) -> str:
    """Simplified characters, no spaces between Chinese ones, Chinese punctuation there."""
    text = _CJK_GAP.sub("", to_simplified(text))
    text = _ASCII_MARK.sub(lambda m: _FULL_WIDTH[m.group(1) or m.group(2)], text)
    return text.strip()


def load_domain_words(path: str | Path | None = None) -> list[str]:
    """The prompt's words: from ``path``, else the built-in data file."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = files("integrations.speech").joinpath("data/domain_words.txt").read_text("utf-8")
    words: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        words.extend(word for word in _WORD_SPLIT.split(line) if word and word not in words)
    return words


def build_prompt(words: Iterable[str]) -> str:
    listed = "、".join(words)
    return f"{_PROMPT_LEAD}{listed}。" if listed else _PROMPT_LEAD


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC  # opencc-python-reimplemented

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text))


class WhisperEngine:
    """Decodes with ffmpeg, then recognises with faster-whisper; loads the model on first use."""

    def __init__(
        self,
        model: str | Path | Callable[[], Path],
        *,
        decoder: FFmpegDecoder | None = None,
        cpu_threads: int = 2,
        workers: int = 1,
        domain_words: Iterable[str] = (),
        beam_size: int = 1,
        label: str | None = None,
    ) -> None:
        # A callable finds the folder on first load (it may raise SpeechUnavailable, or
        # in production download the model once), so building an engine never fails.
        self._find_model = model if callable(model) else None
        self.model_path: Path | None = None if callable(model) else Path(model)
        self.decoder = decoder or FFmpegDecoder()
        self.cpu_threads = cpu_threads
        self.workers = workers
        self.prompt = build_prompt(domain_words)
        self.beam_size = beam_size
        shown = label or (self.model_path.name if self.model_path else "whisper")
        self.name = f"faster-whisper:{shown}-int8"
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (otherwise the first note does it); SpeechUnavailable on failure."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if self.model_path is None and self._find_model is not None:
                self.model_path = self._find_model()
            try:
                from faster_whisper import WhisperModel

                self._model = WhisperModel(
                    str(self.model_path), device="cpu", compute_type="int8",
                    cpu_threads=self.cpu_threads, num_workers=self.workers,
                    local_files_only=True,
                )
            except Exception as exc:  # import, missing files, corrupt weights
                raise SpeechUnavailable(
                    f"cannot load the speech model at {self.model_path}: {exc}"
                ) from exc

    def recognise(self, audio: DecodedAudio) -> str:
        """The text of decoded audio ("" when no speech was found)."""
        self.load()
        segments, _info = self._model.transcribe(
            audio.samples,
            language="zh",
            task="transcribe",
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=self.prompt,
            without_timestamps=True,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 500},
            # Synthetic or noisy input can make greedy decoding loop on a phrase.
            no_repeat_ngram_size=3,
        )
        # The segments come from a lazy generator: recognition happens here.
        pieces = [segment.text.strip() for segment in segments]
        return tidy_text("".join(piece for piece in pieces if piece))

    def transcribe_sync(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript:
        started = time.perf_counter()
        decoded = self.decoder.decode(audio, audio_format=audio_format, max_seconds=max_seconds)
        text = self.recognise(decoded)
        return Transcript(
            text=text,
            duration_seconds=round(decoded.duration_seconds, 3),
            seconds_spent=round(time.perf_counter() - started, 3),
            engine=self.name,
        )
