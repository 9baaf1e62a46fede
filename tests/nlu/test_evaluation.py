"""Unit tests for nlu.evaluation (pure scoring functions)."""

from __future__ import annotations

import pytest

from nlu.evaluation import (
    CATEGORIES,
    INTENTS,
    Entity,
    GoldCase,
    Prediction,
    case_from_dict,
    confusions,
    evaluate,
    format_report,
    macro_f1,
    per_label_scores,
    prediction_from_parse,
)


def test_contract_label_sets() -> None:
    assert len(INTENTS) == 19 and len(set(INTENTS)) == 19
    assert len(CATEGORIES) == 16 and CATEGORIES[-1] == "其他"
    assert {"consult", "seek_help", "complain", "report", "suggest", "praise"} <= set(INTENTS)


def test_macro_f1_matches_hand_computation() -> None:
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", "b"]
    # a: P=1, R=.5, F1=2/3; b: P=2/3, R=1, F1=.8
    assert macro_f1(gold, pred) == pytest.approx((2 / 3 + 0.8) / 2)


def test_macro_f1_counts_labels_only_predicted() -> None:
    # A label that never occurs in gold but is predicted scores F1 0 (as scikit-learn).
    assert macro_f1(["a", "a"], ["a", "c"]) == pytest.approx((2 / 3 + 0.0) / 2)


def test_per_label_support_and_length_check() -> None:
    scores = {s.label: s for s in per_label_scores(["a", "b", "b"], ["a", "a", "b"])}
    assert scores["a"].support == 1 and scores["b"].support == 2
    assert scores["a"].precision == pytest.approx(0.5)
    with pytest.raises(ValueError):
        per_label_scores(["a"], [])


def test_confusions_sorted_by_count_then_label() -> None:
    gold = ["x", "x", "y", "y", "y", "z"]
    pred = ["y", "y", "x", "y", "z", "z"]
    assert confusions(gold, pred, top=2) == (("x", "y", 2), ("y", "x", 1))


def _case(intent: str, category: str = "其他", entities: tuple[Entity, ...] = ()) -> GoldCase:
    return GoldCase(text="t", intent=intent, category=category, entities=entities)


def _pred(intent: str, category: str = "其他", entities: tuple[Entity, ...] = ()) -> Prediction:
    return Prediction(intent=intent, category=category, entities=entities)


def test_evaluate_overall_figures_and_chitchat_rate() -> None:
    cases = [
        _case("complain", "环境保护"),
        _case("consult", "民政"),
        _case("out_of_scope"),
        _case("greet"),
        _case("thank"),
        _case("goodbye"),
        _case("emergency"),
        _case("emergency"),
    ]
    preds = [
        _pred("complain", "环境保护"),
        _pred("consult", "政法"),
        _pred("consult"),  # chit-chat taken for a request
        _pred("greet"),
        _pred("praise"),  # thanks taken for praise: also a request type
        _pred("goodbye"),
        _pred("emergency"),
        _pred("seek_help"),
    ]
    report = evaluate(cases, preds)
    assert report.n == 8
    assert report.intent_accuracy == pytest.approx(5 / 8)
    assert report.category_accuracy == pytest.approx(7 / 8)
    assert report.chitchat_support == 4
    assert report.chitchat_as_request_rate == pytest.approx(2 / 4)
    assert report.emergency_recall == pytest.approx(0.5)
    assert ("out_of_scope", "consult", 1) in report.intent_confusions
    assert report.category_confusions == (("民政", "政法", 1),)
    text = format_report(report)
    assert "intent accuracy" in text and "0.625" in text


def test_chitchat_rate_zero_without_chitchat_cases() -> None:
    report = evaluate([_case("complain")], [_pred("complain")])
    assert report.chitchat_support == 0 and report.chitchat_as_request_rate == 0.0


def test_entity_scores_only_on_cases_with_gold_entities() -> None:
    phone = Entity("phone", "13812345678")
    ticket = Entity("ticket_id", "MH202611230017")
    cases = [
        _case("supplement", entities=(phone,)),
        _case("query_status", entities=(ticket,)),
        _case("complain"),
    ]
    preds = [
        _pred("supplement", entities=(phone, Entity("location", "和平路"))),
        _pred("query_status"),
        _pred("complain", entities=(Entity("location", "x"),)),  # not scored: no gold list
    ]
    report = evaluate(cases, preds)
    assert report.entity_precision == pytest.approx(1 / 2)
    assert report.entity_recall == pytest.approx(1 / 2)
    assert report.entity_f1 == pytest.approx(1 / 2)


def test_evaluate_length_mismatch() -> None:
    with pytest.raises(ValueError):
        evaluate([_case("greet")], [])


def test_case_and_prediction_from_dicts() -> None:
    case = case_from_dict(
        {
            "text": "查一下MH202611230017",
            "intent": "query_status",
            "category": "其他",
            "entities": [{"entity": "ticket_id", "value": "MH202611230017"}],
        }
    )
    assert case.entities == (Entity("ticket_id", "MH202611230017"),)
    parsed = {
        "text": "查一下MH202611230017",
        "intent": {"name": "query_status", "confidence": 0.93},
        "entities": [{"entity": "ticket_id", "start": 3, "end": 17, "value": "MH202611230017"}],
        "category": {"name": "其他", "confidence": 0.88},
    }
    pred = prediction_from_parse(parsed)
    assert pred.intent == "query_status" and pred.category == "其他"
    assert pred.intent_confidence == pytest.approx(0.93)
    assert pred.entities == case.entities


def test_prediction_from_parse_tolerates_missing_fields() -> None:
    pred = prediction_from_parse({"text": "x", "intent": None})
    assert pred.intent == "" and pred.category == "" and pred.entities == ()
