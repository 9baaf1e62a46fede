"""Character error rate and real-time factor over a folder of voice clips.

A clip is any audio file with a ``.txt`` of the same stem beside it (several
formats of one recording can share one transcript). Texts are compared after
OpenCC t2s and with whitespace, punctuation and symbols removed; digits and
Chinese numerals are NOT equated ("12线" against "一二线" costs two errors),
because the text we file is what the resident will read back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import SpeechError
from bot.ports import Transcript

from .engine import to_simplified

__all__ = [
    "AUDIO_SUFFIXES",
    "ClipResult",
    "EvalReport",
    "clips_in",
    "edit_distance",
    "evaluate",
    "scoring_form",
]

AUDIO_SUFFIXES = (".wav", ".amr", ".awb", ".ogg", ".oga", ".opus", ".spx", ".mp3", ".aac",
                  ".m4a", ".mp4", ".flac", ".webm")


def scoring_form(text: str) -> str:
    """The text as scored: Simplified, without whitespace, punctuation or symbols."""
    return "".join(
        ch for ch in to_simplified(text)
        if unicodedata.category(ch)[0] not in "PSZC"
    )


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance in characters (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, start=1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, start=1):
            current.append(min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_char != hyp_char),
            ))
        previous = current
    return previous[-1]


@dataclass(frozen=True, slots=True)
class ClipResult:
    path: Path
    reference: str
    hypothesis: str
    errors: int
    duration_seconds: float
    seconds_spent: float
    failure: str | None = None

    @property
    def cer(self) -> float:
        return self.errors / max(1, len(scoring_form(self.reference)))


@dataclass(frozen=True, slots=True)
class EvalReport:
    clips: tuple[ClipResult, ...]

    @property
    def reference_chars(self) -> int:
        return sum(len(scoring_form(clip.reference)) for clip in self.clips)

    @property
    def errors(self) -> int:
        return sum(clip.errors for clip in self.clips)

    @property
    def cer(self) -> float:
        """Errors over reference characters, pooled over all clips."""
        return self.errors / max(1, self.reference_chars)

    @property
    def audio_seconds(self) -> float:
        return sum(clip.duration_seconds for clip in self.clips)

    @property
    def seconds_spent(self) -> float:
        return sum(clip.seconds_spent for clip in self.clips)

    @property
    def rtf(self) -> float:
        """Processing time over audio time (below 1: faster than real time)."""
        return self.seconds_spent / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def failures(self) -> int:
        return sum(clip.failure is not None for clip in self.clips)

    def as_dict(self) -> dict[str, object]:
        return {
            "clips": len(self.clips),
            "reference_chars": self.reference_chars,
            "errors": self.errors,
            "cer": round(self.cer, 4),
            "audio_seconds": round(self.audio_seconds, 2),
            "seconds_spent": round(self.seconds_spent, 2),
            "rtf": round(self.rtf, 3),
            "failures": self.failures,
            "results": [
                {
                    "file": clip.path.name, "reference": clip.reference,
                    "hypothesis": clip.hypothesis, "errors": clip.errors,
                    "cer": round(clip.cer, 4), "seconds": clip.duration_seconds,
                    "spent": clip.seconds_spent, "failure": clip.failure,
                }
                for clip in self.clips
            ],
        }


def clips_in(folder: str | Path) -> Iterator[tuple[Path, str]]:
    """(audio file, reference text) for every audio file with a transcript beside it."""
    for path in sorted(Path(folder).iterdir()):
        transcript = path.with_suffix(".txt")
        if path.suffix.lower() in AUDIO_SUFFIXES and transcript.is_file():
            yield path, transcript.read_text(encoding="utf-8").strip()


def evaluate(
    folder: str | Path,
    transcribe: Callable[[bytes, str], Transcript],
    *,
    limit: int | None = None,
    progress: Callable[[ClipResult], None] | None = None,
) -> EvalReport:
    """Transcribe each clip once (``transcribe(audio, format)``) and score it.

    A clip the engine refuses counts as all characters wrong, with the reason kept.
    """
    results: list[ClipResult] = []
    for index, (path, reference) in enumerate(clips_in(folder)):
        if limit is not None and index >= limit:
            break
        try:
            transcript = transcribe(path.read_bytes(), path.suffix.lstrip("."))
        except SpeechError as exc:
            result = ClipResult(path, reference, "", len(scoring_form(reference)), 0.0, 0.0,
                                failure=f"{type(exc).__name__}: {exc}")
        else:
            result = ClipResult(
                path, reference, transcript.text,
                edit_distance(scoring_form(reference), scoring_form(transcript.text)),
                transcript.duration_seconds, transcript.seconds_spent,
            )
        results.append(result)
        if progress:
            progress(result)
    return EvalReport(tuple(results))
