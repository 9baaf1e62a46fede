"""Sanity checks for the Rasa training data and the held-out file (run in .venv-rasa).

    cd nlu/rasa && ../../.venv-rasa/bin/python ../tools/check_data.py

- every intent / category is one of the contract labels (nlu.evaluation);
- counts per intent and per category;
- entity annotations that do not start/end on jieba token boundaries (with the user dict);
- held-out lines that are identical or near-identical (char-bigram Jaccard >= 0.6) to a
  training example, i.e. leakage.
Exit status 1 when a contract label is wrong, an entity is misaligned or leakage is found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RASA_DIR = REPO / "nlu" / "rasa"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(RASA_DIR))

from nlu.evaluation import CATEGORIES, INTENTS  # noqa: E402
from nlu.normalize import normalize_text  # noqa: E402


def bigrams(text: str) -> set[str]:
    t = "".join(text.split())
    return {t[i : i + 2] for i in range(len(t) - 1)} or {t}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(RASA_DIR / "data"))
    ap.add_argument("--heldout", default=str(REPO / "nlu/eval/heldout.jsonl"))
    ap.add_argument("--threshold", type=float, default=0.6)
    args = ap.parse_args()

    import jieba
    from minhu_components.category import message_category
    from rasa.shared.nlu.training_data.loading import load_data

    jieba.setLogLevel(60)
    for f in sorted((RASA_DIR / "jieba").glob("*")):
        jieba.load_userdict(str(f))

    td = load_data(args.data, language="zh")
    problems = 0
    intents: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    train_texts: list[str] = []
    for m in td.intent_examples:
        intent, cat, text = m.get("intent"), message_category(m, "其他"), m.get("text")
        intents[intent] += 1
        cats[cat] += 1
        pairs[(intent, cat)] += 1
        train_texts.append(text)
        if intent not in INTENTS or cat not in CATEGORIES:
            print(f"BAD LABEL {intent}/{cat}: {text}")
            problems += 1
        bounds: set[int] = set()
        for _word, start, end in jieba.tokenize(text):
            bounds.update((start, end))
        for e in m.get("entities") or []:
            if e["start"] not in bounds or e["end"] not in bounds:
                toks = "/".join(w for w, _, _ in jieba.tokenize(text))
                print(f"MISALIGNED {e['entity']}={e['value']!r}: {toks}")
                problems += 1
    dup = [t for t, n in Counter(train_texts).items() if n > 1]
    for t in dup:
        print(f"DUPLICATE training example: {t}")
    print(f"training examples: {len(train_texts)}")
    print("per intent:", dict(sorted(intents.items(), key=lambda kv: -kv[1])))
    print("per category:", dict(sorted(cats.items(), key=lambda kv: -kv[1])))

    rows = [json.loads(x) for x in Path(args.heldout).read_text("utf-8").splitlines() if x.strip()]
    h_intents = Counter(r["intent"] for r in rows)
    h_cats = Counter(r["category"] for r in rows)
    print(f"\nheld-out cases: {len(rows)}")
    print("per intent:", dict(sorted(h_intents.items(), key=lambda kv: -kv[1])))
    print("per category:", dict(sorted(h_cats.items(), key=lambda kv: -kv[1])))
    train_grams = [(t, bigrams(normalize_text(t))) for t in train_texts]
    for r in rows:
        if r["intent"] not in INTENTS or r["category"] not in CATEGORIES:
            print(f"BAD HELD-OUT LABEL {r['intent']}/{r['category']}: {r['text']}")
            problems += 1
        g = bigrams(normalize_text(r["text"]))
        if len(g) < 4:  # very short texts ("你好") legitimately repeat
            continue
        best, best_t = 0.0, ""
        for t, tg in train_grams:
            j = len(g & tg) / len(g | tg)
            if j > best:
                best, best_t = j, t
        if best >= args.threshold:
            # Short closed-class phrases (满意 / 不是这个) overlap by nature: note, not a problem.
            short = len("".join(r["text"].split())) <= 6
            tag = "note" if short else "LEAK?"
            print(f"{tag} {best:.2f} held-out {r['text']!r} ~ train {best_t!r}")
            problems += 0 if short else 1
    print(f"\nproblems: {problems}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
