"""Speech-to-text: how long a 10-second voice note takes, and CER/RTF of both eval sets.

    .venv/bin/python -m bench.asr [--runs 5] [--skip-sets] [--json var/bench-asr.json]

Needs ``scripts/asr-env.sh`` (``make setup``): the model under var/models and
the clips under var/asr. Runs offline (HF_HUB_OFFLINE=1) with the app's
default settings (base, int8, 2 CPU threads, beam 1, VAD, domain prompt).

- **10 s note**: var/asr/note10/aishell-10s.wav (two AISHELL clips and a
  1.7 s pause, 10.02 s) as Telegram's OGG/Opus, through the whole path
  (ffmpeg decoding + recognition). One cold call, then ``--runs`` warm calls:
  a bounded loop. Wall time and the process's CPU time (all threads) are
  reported, with the load average, because other work on the two cores
  shows up in wall time only.
- **Sets**: ``minhu asr eval`` on var/asr/aishell (public clips, clean) and
  var/asr/rider (espeak-ng at rider speeds, street noise, four formats).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bot.settings import Settings
from integrations.speech import engine_from_settings
from integrations.speech.evaluation import EvalReport, evaluate

ROOT = Path(__file__).resolve().parents[1]
SETS = ROOT / "var" / "asr"
NOTE10 = SETS / "note10" / "aishell-10s.wav"
TARGET_SECONDS = 3.0


def _ogg_opus(wav: Path) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-ar", "48000",
         "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"],
        capture_output=True, check=True,
    ).stdout


def _by_format(report: EvalReport) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for index, clip in enumerate(report.clips):
        groups.setdefault(clip.path.suffix.lstrip("."), []).append(index)
    result = {}
    for suffix, indexes in sorted(groups.items()):
        part = EvalReport(tuple(report.clips[i] for i in indexes))
        result[suffix] = {"clips": len(indexes), "cer": round(part.cer, 4),
                          "rtf": round(part.rtf, 3)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm calls on the 10 s note")
    parser.add_argument("--skip-sets", action="store_true", help="only the 10 s note")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    if not NOTE10.is_file():
        print("error: no clips under var/asr; run scripts/asr-env.sh", file=sys.stderr)
        return 1
    settings = Settings(asr_model_dir=str(ROOT / "var" / "models"))

    started = time.perf_counter()
    engine = engine_from_settings(settings)
    engine.load()
    load_seconds = time.perf_counter() - started
    note = _ogg_opus(NOTE10)
    load_before = os.getloadavg()[0]

    walls: list[float] = []
    cpus: list[float] = []
    text = ""
    for _ in range(1 + max(0, args.runs)):
        wall, cpu = time.perf_counter(), time.process_time()
        transcript = engine.transcribe_sync(note, audio_format="ogg")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        text = transcript.text
    warm = walls[1:] or walls
    note_figures = {
        "audio_seconds": transcript.duration_seconds,
        "format": "ogg/opus 24k",
        "model_load_seconds": round(load_seconds, 2),
        "cold_seconds": round(walls[0], 2),
        "warm_median_seconds": round(statistics.median(warm), 2),
        "warm_min_seconds": round(min(warm), 2),
        "warm_max_seconds": round(max(warm), 2),
        "warm_median_cpu_seconds": round(statistics.median(cpus[1:] or cpus), 2),
        "target_seconds": TARGET_SECONDS,
        "met": statistics.median(warm) < TARGET_SECONDS,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "text": text,
    }
    print(f"10 s note ({note_figures['format']}): cold {walls[0]:.2f} s, warm median "
          f"{note_figures['warm_median_seconds']:.2f} s (min {min(warm):.2f}, max "
          f"{max(warm):.2f}; CPU {note_figures['warm_median_cpu_seconds']:.2f} s) over "
          f"{len(warm)} runs; target < {TARGET_SECONDS:g} s: "
          f"{'met' if note_figures['met'] else 'MISSED'}; model load {load_seconds:.2f} s; "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"  heard: {text}")
    figures: dict[str, object] = {"engine": engine.name, "cpu_threads": settings.asr_cpu_threads,
                                  "note10": note_figures}

    if not args.skip_sets:
        for name in ("aishell", "rider"):
            report = evaluate(SETS / name, lambda audio, fmt: engine.transcribe_sync(
                audio, audio_format=fmt))
            figures[name] = {**{k: v for k, v in report.as_dict().items() if k != "results"},
                             "by_format": _by_format(report)}
            print(f"{name}: {len(report.clips)} clips, CER {report.cer:.1%}, "
                  f"RTF {report.rtf:.3f}, {report.failures} refused; by format: "
                  + ", ".join(f"{k} CER {v['cer']:.0%} RTF {v['rtf']:.2f}"
                              for k, v in _by_format(report).items()))

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=1) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
