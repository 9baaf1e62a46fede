"""K-fold cross-validation of the whole pipeline on the training data (intent AND category).

    cd nlu/rasa && ../../.venv-rasa/bin/python ../tools/cross_validate.py [--folds 5] [--json F]

Splits the training examples (stratified by intent, fixed seed), trains one model per fold
with `rasa train nlu` on the other folds, parses the held-back fold in-process (same output
as /model/parse) and scores it with nlu.evaluation. Takes folds x one training run.
The last line on stdout is the pooled figures as one JSON object.
`rasa test nlu --cross-validation --folds 5` also works but scores intents/entities only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RASA_DIR = REPO / "nlu" / "rasa"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(RASA_DIR))

from nlu.evaluation import (  # noqa: E402
    Entity,
    GoldCase,
    Prediction,
    evaluate,
    format_report,
    prediction_from_parse,
)


def write_fold(messages: list[Any], path: Path) -> None:
    """Write examples as Rasa YAML with per-example category metadata."""
    from minhu_components.category import message_category
    from rasa.shared.nlu.training_data.formats.readerwriter import TrainingDataWriter

    lines = ['version: "3.1"', "nlu:"]
    for m in messages:
        text = TrainingDataWriter.generate_message(m)
        lines += [
            f"- intent: {m.get('intent')}",
            "  examples:",
            f"  - text: {json.dumps(text, ensure_ascii=False)}",
            "    metadata:",
            f"      category: {message_category(m, '其他')}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", help="write the pooled metrics here")
    args = ap.parse_args()

    os.chdir(RASA_DIR)
    from minhu_components.category import message_category
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    data_dir = RASA_DIR / "data"
    td = load_data(str(data_dir), language="zh")
    examples = [m for m in td.intent_examples if m.get("text")]
    by_intent: dict[str, list[Any]] = defaultdict(list)
    for m in examples:
        by_intent[m.get("intent")].append(m)
    rng = random.Random(args.seed)
    fold_of: dict[int, int] = {}
    for intent in sorted(by_intent):
        group = by_intent[intent]
        rng.shuffle(group)
        for i, m in enumerate(group):
            fold_of[id(m)] = i % args.folds

    rasa = str(Path(sys.executable).parent / "rasa")
    cases: list[GoldCase] = []
    preds: list[Prediction] = []
    with tempfile.TemporaryDirectory(prefix="minhu-cv-") as tmp:
        tmpdir = Path(tmp)
        for k in range(args.folds):
            train = [m for m in examples if fold_of[id(m)] != k]
            test = [m for m in examples if fold_of[id(m)] == k]
            fold_dir = tmpdir / f"fold{k}"
            fold_dir.mkdir()
            write_fold(train, fold_dir / "nlu.yml")
            # Regexes and lookup tables are features, not examples: every fold keeps them.
            (fold_dir / "patterns.yml").write_text(
                (data_dir / "nlu_patterns.yml").read_text("utf-8"), "utf-8"
            )
            print(
                f"[cv] fold {k + 1}/{args.folds}: train {len(train)}, test {len(test)}",
                file=sys.stderr,
                flush=True,
            )
            subprocess.run(  # noqa: S603 (our own venv's rasa)
                [
                    rasa,
                    "train",
                    "nlu",
                    "--nlu",
                    str(fold_dir),
                    "--out",
                    str(fold_dir),
                    "--fixed-model-name",
                    "model",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            agent = Agent.load(str(fold_dir / "model.tar.gz"))
            for m in test:
                parsed = asyncio.run(agent.parse_message(m.get("text")))
                gold_entities = tuple(
                    Entity(e["entity"], str(e["value"])) for e in m.get("entities") or []
                )
                cases.append(
                    GoldCase(
                        m.get("text"), m.get("intent"), message_category(m, "其他"), gold_entities
                    )
                )
                preds.append(prediction_from_parse(parsed))
            fold_report = evaluate(cases[-len(test) :], preds[-len(test) :])
            print(
                f"[cv] fold {k + 1}: intent acc {fold_report.intent_accuracy:.3f}, "
                f"category acc {fold_report.category_accuracy:.3f}",
                file=sys.stderr,
                flush=True,
            )

    report = evaluate(cases, preds)
    metrics = {k: v for k, v in report.__dict__.items() if isinstance(v, (int, float))}
    metrics["folds"] = args.folds
    print(f"{args.folds}-fold cross-validation over {len(cases)} training examples (pooled)")
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=1), "utf-8")
    # Last stdout line: the pooled figures as one JSON object (read by `minhu nlu eval`).
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
