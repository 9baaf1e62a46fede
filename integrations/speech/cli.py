"""``minhu asr transcribe FILE`` and ``minhu asr eval DIR``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.errors import SpeechError, SpeechUnavailable
from bot.settings import Settings

from . import engine_from_settings
from .engine import WhisperEngine
from .evaluation import ClipResult, evaluate

__all__ = ["eval_command", "transcribe_command"]


def _ready_engine(settings: Settings, err: TextIO) -> WhisperEngine | None:
    try:
        engine = engine_from_settings(settings)
        engine.load()
    except SpeechUnavailable as exc:
        print(f"error: {exc}", file=err)
        return None
    return engine


def transcribe_command(
    settings: Settings, file: str, *, audio_format: str | None = None, verbose: bool = False,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Print the text of one audio file (with timings on stderr when verbose)."""
    out, err = out or sys.stdout, err or sys.stderr
    path = Path(file)
    try:
        audio = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {file}: {exc.strerror}", file=err)
        return 1
    engine = _ready_engine(settings, err)
    if engine is None:
        return 1
    try:
        transcript = engine.transcribe_sync(
            audio, audio_format=audio_format or path.suffix.lstrip(".") or None,
            max_seconds=settings.asr_max_seconds,
        )
    except SpeechError as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(transcript.text, file=out)
    if verbose:
        print(f"{transcript.duration_seconds:.2f} s of audio in {transcript.seconds_spent:.2f} s "
              f"({transcript.engine})", file=err)
    return 0


def eval_command(
    settings: Settings, folder: str, *, json_out: str | None = None, limit: int | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Score every clip in ``folder`` that has a .txt transcript beside it."""
    out, err = out or sys.stdout, err or sys.stderr
    if not Path(folder).is_dir():
        print(f"error: {folder} is not a folder", file=err)
        return 1
    loading = time.perf_counter()
    engine = _ready_engine(settings, err)
    if engine is None:
        return 1
    loaded_in = time.perf_counter() - loading

    def show(clip: ClipResult) -> None:
        said = clip.failure or clip.hypothesis
        print(f"{clip.path.name}\t{clip.errors} err\t{clip.seconds_spent:.2f}/"
              f"{clip.duration_seconds:.2f} s\t{said}", file=out, flush=True)

    report = evaluate(
        folder,
        lambda audio, suffix: engine.transcribe_sync(
            audio, audio_format=suffix, max_seconds=settings.asr_max_seconds
        ),
        limit=limit, progress=show,
    )
    if not report.clips:
        print(f"error: no audio file in {folder} has a .txt transcript beside it", file=err)
        return 1
    print(
        f"{len(report.clips)} clips, {report.reference_chars} reference characters: "
        f"CER {report.cer:.1%} ({report.errors} errors), "
        f"RTF {report.rtf:.3f} ({report.seconds_spent:.1f} s for {report.audio_seconds:.1f} s "
        f"of audio), {report.failures} refused; model loaded in {loaded_in:.1f} s; "
        f"{engine.name}",
        file=out,
    )
    if json_out:
        figures = {"folder": str(folder), "engine": engine.name,
                   "load_seconds": round(loaded_in, 2), **report.as_dict()}
        Path(json_out).write_text(json.dumps(figures, ensure_ascii=False, indent=1) + "\n",
                                  encoding="utf-8")
    return 0
