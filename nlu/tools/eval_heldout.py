"""Score the held-out file against a running Rasa server through HTTP /model/parse.

    python nlu/tools/eval_heldout.py --url http://127.0.0.1:5055 \
        [--heldout nlu/eval/heldout.jsonl] [--json var/nlu-eval.json] [--errors]

Every text goes through nlu.normalize.normalize_text first, exactly as the app does. Prints
the report from nlu.evaluation plus /model/parse latency p50/p90/p99 (sequential requests).
Standard library + nlu.* only, so it runs in the app venv or in .venv-rasa.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nlu.evaluation import (  # noqa: E402
    Prediction,
    case_from_dict,
    evaluate,
    format_report,
    prediction_from_parse,
)
from nlu.normalize import normalize_text  # noqa: E402


def parse(url: str, text: str, timeout: float = 10.0) -> dict[str, Any]:
    body = json.dumps({"text": text}).encode("utf-8")
    req = urllib.request.Request(  # noqa: S310 (http URL given on the command line)
        url.rstrip("/") + "/model/parse",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback URL)
        result: dict[str, Any] = json.loads(resp.read().decode("utf-8"))
        return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:5055")
    ap.add_argument("--heldout", default=str(REPO / "nlu/eval/heldout.jsonl"))
    ap.add_argument("--json", help="write metrics + per-case predictions here")
    ap.add_argument("--errors", action="store_true", help="list every misclassified case")
    ap.add_argument("--no-normalize", action="store_true")
    args = ap.parse_args(argv)

    rows = [
        json.loads(line)
        for line in Path(args.heldout).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    cases = [case_from_dict(r) for r in rows]
    parse(args.url, "你好")  # warm-up, not timed
    preds: list[Prediction] = []
    raw: list[dict[str, Any]] = []
    latencies: list[float] = []
    for case in cases:
        text = case.text if args.no_normalize else normalize_text(case.text)
        t0 = time.perf_counter()
        parsed = parse(args.url, text)
        latencies.append((time.perf_counter() - t0) * 1000)
        raw.append(parsed)
        preds.append(prediction_from_parse(parsed))

    report = evaluate(cases, preds)
    print(format_report(report))
    print(
        f"\n/model/parse latency over {len(latencies)} sequential calls: "
        f"p50 {percentile(latencies, 50):.1f} ms, p90 {percentile(latencies, 90):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
    )
    if args.errors:
        print("\nmisclassified:")
        for case, pred in zip(cases, preds, strict=True):
            if case.intent != pred.intent or case.category != pred.category:
                print(
                    f"  {case.intent}/{case.category} -> "
                    f"{pred.intent}({pred.intent_confidence:.2f})"
                    f"/{pred.category}({pred.category_confidence:.2f})  {case.text}"
                )
    if args.json:
        out = {
            "metrics": {k: v for k, v in report.__dict__.items() if isinstance(v, (int, float))},
            "latency_ms": {
                "p50": percentile(latencies, 50),
                "p90": percentile(latencies, 90),
                "p99": percentile(latencies, 99),
            },
            "cases": [
                {"text": c.text, "gold_intent": c.intent, "gold_category": c.category, "parse": r}
                for c, r in zip(cases, raw, strict=True)
            ],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
