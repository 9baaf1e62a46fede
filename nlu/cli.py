"""What ``minhu nlu parse`` and ``minhu nlu eval`` do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from nlu.alignment import OffsetMap
from nlu.client import RasaUnderstanding
from nlu.evaluation import (
    Prediction,
    case_from_dict,
    evaluate,
    format_report,
    prediction_from_parse,
)
from nlu.normalize import normalize_text
from nlu.runtime import PROJECT_DIR, REPO_DIR, running_rasa

__all__ = ["HELDOUT", "evaluate_command", "parse_lines", "rasa_answers"]

HELDOUT = REPO_DIR / "nlu" / "eval" / "heldout.jsonl"


def rasa_answers(url: str) -> bool:
    try:
        status = httpx.get(url.rstrip("/") + "/status", timeout=2.0)
    except httpx.TransportError:
        return False
    return status.status_code == 200 and bool(status.json().get("model_file"))


@contextlib.contextmanager
def _rasa_at(url: str | None) -> Iterator[str]:
    """``url`` if a Rasa answers there; otherwise one started for the run."""
    if url and rasa_answers(url):
        yield url
        return
    with running_rasa(progress=lambda line: print(line, file=sys.stderr, flush=True)) as server:
        yield server.url


def parse_lines(stdin: IO[str], stdout: IO[str], *, rasa_url: str, timeout: float) -> int:
    """JSON Lines in (``{"text": ...}``), one JSON line out per input line."""
    with _rasa_at(rasa_url) as url:
        return asyncio.run(_parse_all(stdin, stdout, url, timeout))


async def _parse_all(stdin: IO[str], stdout: IO[str], url: str, rasa_timeout: float) -> int:
    status = 0
    async with httpx.AsyncClient() as http:
        client = RasaUnderstanding(http, base_url=url, timeout=max(rasa_timeout, 5.0))
        for number, line in enumerate(stdin, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                text = item["text"]
                if not isinstance(text, str):
                    raise TypeError("text must be a string")
            except (ValueError, KeyError, TypeError) as exc:
                print(json.dumps({"error": f"line {number}: {exc}"}, ensure_ascii=False),
                      file=stdout, flush=True)
                status = 1
                continue
            intent = await client.parse(text)
            offsets = OffsetMap(text, normalize_text(text))
            entities = []
            for entity in intent.entities:
                start, end = entity.start, entity.end
                if start is not None and end is not None:
                    start, end = offsets.span(start, end)
                entities.append(
                    {"entity": entity.entity, "value": entity.value, "start": start, "end": end}
                )
            out = {
                "text": text,
                "intent": intent.name,
                "intent_confidence": round(intent.confidence, 4),
                "category": intent.category,
                "category_confidence": round(intent.category_confidence, 4),
                "entities": entities,
            }
            print(json.dumps(out, ensure_ascii=False), file=stdout, flush=True)
    return status


def evaluate_command(
    *, rasa_url: str | None, folds: int, heldout: str | None, json_out: str | None
) -> int:
    path = Path(heldout) if heldout else HELDOUT
    cases = [
        case_from_dict(json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    figures: dict[str, Any] = {"heldout_file": str(path), "cases": len(cases)}
    with _rasa_at(rasa_url) as url:
        predictions, latencies = _predict(url, [case.text for case in cases])
    report = evaluate(cases, predictions)
    print(f"== held-out file {path} ({len(cases)} cases, never trained on)")
    print(format_report(report))
    latencies.sort()
    figures["heldout"] = {
        key: value for key, value in vars(report).items() if isinstance(value, int | float)
    }
    figures["parse_latency_ms"] = {
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "mean": statistics.fmean(latencies),
    }
    print(
        f"/model/parse latency (sequential, loopback): p50 {figures['parse_latency_ms']['p50']:.1f}"
        f" ms, p99 {figures['parse_latency_ms']['p99']:.1f} ms"
    )
    if folds > 1:
        print(f"\n== {folds}-fold cross-validation on the training data")
        figures["cross_validation"] = _cross_validate(folds)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(figures, ensure_ascii=False, indent=1), "utf-8")
    return 0


def _predict(url: str, texts: list[str]) -> tuple[list[Prediction], list[float]]:
    predictions: list[Prediction] = []
    latencies: list[float] = []
    with httpx.Client(timeout=30.0) as http:
        http.post(f"{url}/model/parse", json={"text": "你好"})  # warm-up
        for text in texts:
            started = time.perf_counter()
            response = http.post(f"{url}/model/parse", json={"text": normalize_text(text)})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            predictions.append(prediction_from_parse(response.json()))
    return predictions, latencies


def _cross_validate(folds: int) -> dict[str, Any]:
    """k-fold cross-validation, run inside the Rasa virtualenv."""
    from nlu.runtime import _rasa_env, rasa_executable

    python = rasa_executable().with_name("python")
    script = REPO_DIR / "nlu" / "tools" / "cross_validate.py"
    result = subprocess.run(  # noqa: S603 - our own script in our own venv
        [str(python), str(script), "--folds", str(folds)],
        cwd=PROJECT_DIR, env=_rasa_env(), capture_output=True, text=True, check=False,
    )
    sys.stderr.write(result.stderr[-4000:])
    if result.returncode != 0:
        raise RuntimeError(f"cross-validation failed (exit {result.returncode})")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    return figures
