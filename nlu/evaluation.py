"""Scoring of NLU predictions against gold cases (pure functions, no Rasa, no HTTP).

Used by ``minhu nlu eval`` and ``nlu/tools/eval_heldout.py``. The label sets below are the
contract between the Rasa project (nlu/rasa) and the bot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATEGORIES",
    "CHITCHAT_INTENTS",
    "CONTROL_INTENTS",
    "INTENTS",
    "OTHER_CATEGORY",
    "REQUEST_INTENTS",
    "Entity",
    "EvalReport",
    "GoldCase",
    "LabelScore",
    "Prediction",
    "case_from_dict",
    "confusions",
    "evaluate",
    "format_report",
    "macro_f1",
    "per_label_scores",
    "prediction_from_parse",
]

# The six request types of a 12345 line (docs/domain.md section 1).
REQUEST_INTENTS: tuple[str, ...] = (
    "consult",
    "seek_help",
    "complain",
    "report",
    "suggest",
    "praise",
)
CONTROL_INTENTS: tuple[str, ...] = (
    "query_status",
    "supplement",
    "withdraw",
    "cancel",
    "rate",
    "human",
    "emergency",
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "out_of_scope",
)
INTENTS: tuple[str, ...] = REQUEST_INTENTS + CONTROL_INTENTS
# Small talk and off-topic messages; must rarely be taken for a request.
CHITCHAT_INTENTS: tuple[str, ...] = ("out_of_scope", "greet", "goodbye", "thank")

OTHER_CATEGORY = "其他"
# First-level classes of shared/data/taxonomy/government_message_taxonomy.csv, plus 其他.
CATEGORIES: tuple[str, ...] = (
    "城乡建设",
    "党务政务",
    "国土资源",
    "环境保护",
    "纪检监察",
    "交通运输",
    "经济管理",
    "科技与信息产业",
    "民政",
    "农村农业",
    "商贸旅游",
    "卫生计生",
    "政法",
    "教育文体",
    "劳动和社会保障",
    OTHER_CATEGORY,
)


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str


@dataclass(frozen=True)
class GoldCase:
    text: str
    intent: str
    category: str
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True)
class Prediction:
    intent: str
    category: str
    intent_confidence: float = 0.0
    category_confidence: float = 0.0
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvalReport:
    n: int
    intent_accuracy: float
    intent_macro_f1: float
    category_accuracy: float
    category_macro_f1: float
    chitchat_as_request_rate: float
    chitchat_support: int
    emergency_recall: float
    entity_precision: float
    entity_recall: float
    entity_f1: float
    intent_scores: tuple[LabelScore, ...] = field(default=())
    category_scores: tuple[LabelScore, ...] = field(default=())
    intent_confusions: tuple[tuple[str, str, int], ...] = field(default=())
    category_confusions: tuple[tuple[str, str, int], ...] = field(default=())


def _entities_from(raw: object) -> tuple[Entity, ...]:
    if not isinstance(raw, list):
        return ()
    out: list[Entity] = []
    for item in raw:
        if isinstance(item, Mapping) and "entity" in item and "value" in item:
            out.append(Entity(str(item["entity"]), str(item["value"])))
    return tuple(out)


def case_from_dict(row: Mapping[str, Any]) -> GoldCase:
    """Build a gold case from one held-out line: ``{text, intent, category, entities?}``."""
    return GoldCase(
        text=str(row["text"]),
        intent=str(row["intent"]),
        category=str(row["category"]),
        entities=_entities_from(row.get("entities")),
    )


def prediction_from_parse(parsed: Mapping[str, Any]) -> Prediction:
    """Build a prediction from a Rasa ``/model/parse`` response body."""
    intent = parsed.get("intent") or {}
    category = parsed.get("category") or {}
    return Prediction(
        intent=str(intent.get("name") or ""),
        category=str(category.get("name") or ""),
        intent_confidence=float(intent.get("confidence") or 0.0),
        category_confidence=float(category.get("confidence") or 0.0),
        entities=_entities_from(parsed.get("entities")),
    )


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def per_label_scores(gold: Sequence[str], pred: Sequence[str]) -> tuple[LabelScore, ...]:
    """Precision/recall/F1 for every label seen in gold or predictions (sorted by label)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    scores = []
    for label in sorted(set(gold) | set(pred)):
        precision = _div(tp[label], tp[label] + fp[label])
        recall = _div(tp[label], tp[label] + fn[label])
        f1 = _div(2 * precision * recall, precision + recall)
        scores.append(LabelScore(label, precision, recall, f1, tp[label] + fn[label]))
    return tuple(scores)


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean F1 over the union of gold and predicted labels (as scikit-learn)."""
    scores = per_label_scores(gold, pred)
    return _div(sum(s.f1 for s in scores), len(scores))


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    return _div(sum(g == p for g, p in zip(gold, pred, strict=True)), len(gold))


def confusions(
    gold: Sequence[str], pred: Sequence[str], top: int = 10
) -> tuple[tuple[str, str, int], ...]:
    """The most frequent (gold, predicted, count) mistakes, most frequent first."""
    counts = Counter((g, p) for g, p in zip(gold, pred, strict=True) if g != p)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple((g, p, n) for (g, p), n in ranked[:top])


def chitchat_as_request_rate(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, int]:
    """Share of chit-chat / out-of-scope cases predicted as one of the six request types."""
    pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if g in CHITCHAT_INTENTS]
    hits = sum(p in REQUEST_INTENTS for _, p in pairs)
    return _div(hits, len(pairs)), len(pairs)


def _recall_of(label: str, gold: Sequence[str], pred: Sequence[str]) -> float:
    pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if g == label]
    return _div(sum(g == p for g, p in pairs), len(pairs))


def _entity_prf(
    gold: Iterable[tuple[Entity, ...]], pred: Iterable[tuple[Entity, ...]]
) -> tuple[float, float, float]:
    """Micro P/R/F1 over exact (entity, value) matches, counted per message."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred, strict=True):
        g_count = Counter(g)
        p_count = Counter(p)
        tp += sum((g_count & p_count).values())
        n_gold += len(g)
        n_pred += len(p)
    precision = _div(tp, n_pred)
    recall = _div(tp, n_gold)
    return precision, recall, _div(2 * precision * recall, precision + recall)


def evaluate(
    cases: Sequence[GoldCase], predictions: Sequence[Prediction], top_confusions: int = 10
) -> EvalReport:
    """Score ``predictions`` (same order as ``cases``).

    Entity scores only count cases whose gold line lists entities, so held-out lines without
    an ``entities`` key do not penalise entity predictions.
    """
    if len(cases) != len(predictions):
        raise ValueError(f"{len(cases)} cases but {len(predictions)} predictions")
    gi = [c.intent for c in cases]
    pi = [p.intent for p in predictions]
    gc = [c.category for c in cases]
    pc = [p.category for p in predictions]
    rate, support = chitchat_as_request_rate(gi, pi)
    with_entities = [
        (c.entities, p.entities) for c, p in zip(cases, predictions, strict=True) if c.entities
    ]
    ep, er, ef = _entity_prf((g for g, _ in with_entities), (p for _, p in with_entities))
    return EvalReport(
        n=len(cases),
        intent_accuracy=accuracy(gi, pi),
        intent_macro_f1=macro_f1(gi, pi),
        category_accuracy=accuracy(gc, pc),
        category_macro_f1=macro_f1(gc, pc),
        chitchat_as_request_rate=rate,
        chitchat_support=support,
        emergency_recall=_recall_of("emergency", gi, pi),
        entity_precision=ep,
        entity_recall=er,
        entity_f1=ef,
        intent_scores=per_label_scores(gi, pi),
        category_scores=per_label_scores(gc, pc),
        intent_confusions=confusions(gi, pi, top_confusions),
        category_confusions=confusions(gc, pc, top_confusions),
    )


def format_report(report: EvalReport) -> str:
    """Human-readable multi-line summary."""
    lines = [
        f"cases                      {report.n}",
        f"intent accuracy            {report.intent_accuracy:.3f}",
        f"intent macro-F1            {report.intent_macro_f1:.3f}",
        f"category accuracy          {report.category_accuracy:.3f}",
        f"category macro-F1          {report.category_macro_f1:.3f}",
        f"chit-chat -> request rate  {report.chitchat_as_request_rate:.3f}"
        f" (of {report.chitchat_support})",
        f"emergency recall           {report.emergency_recall:.3f}",
        f"entity P/R/F1              {report.entity_precision:.3f} / "
        f"{report.entity_recall:.3f} / {report.entity_f1:.3f}",
        "",
        "intent                 P      R      F1     n",
    ]
    for s in report.intent_scores:
        lines.append(f"  {s.label:<18} {s.precision:.3f}  {s.recall:.3f}  {s.f1:.3f}  {s.support}")
    lines.append("category")
    for s in report.category_scores:
        lines.append(f"  {s.label:<14} {s.precision:.3f}  {s.recall:.3f}  {s.f1:.3f}  {s.support}")
    lines.append("top intent confusions (gold -> predicted)")
    lines.extend(f"  {g} -> {p}: {n}" for g, p, n in report.intent_confusions)
    lines.append("top category confusions (gold -> predicted)")
    lines.extend(f"  {g} -> {p}: {n}" for g, p, n in report.category_confusions)
    return "\n".join(lines)
