"""Scoring: what counts as an error in the character error rate."""

from __future__ import annotations

from pathlib import Path

from bot.ports import Transcript
from integrations.speech.evaluation import clips_in, edit_distance, evaluate, scoring_form


def test_punctuation_spaces_and_traditional_forms_do_not_count() -> None:
    assert scoring_form("一二線 城市，雖然也處於調整中。 ") == "一二线城市虽然也处于调整中"
    assert scoring_form("“您好！”请问…") == "您好请问"


def test_digits_and_chinese_numerals_are_different_characters() -> None:
    assert edit_distance(scoring_form("一二线"), scoring_form("12线")) == 2


def test_edit_distance_counts_each_kind_of_error() -> None:
    assert edit_distance("停滞的情况", "停滞的情况") == 0
    assert edit_distance("停滞的情况", "停制的情况") == 1
    assert edit_distance("停滞的情况", "停的情况") == 1
    assert edit_distance("停滞的情况", "停滞了的情况") == 1
    assert edit_distance("", "多") == 1


def test_clips_pair_with_the_transcript_of_their_stem(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("路灯坏了\n", encoding="utf-8")
    for name in ("a.amr", "a.ogg", "b.mp3", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    assert [(p.name, text) for p, text in clips_in(tmp_path)] == [
        ("a.amr", "路灯坏了"), ("a.ogg", "路灯坏了")]


def test_cer_pools_errors_over_characters_and_rtf_time_over_audio(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("路灯坏了", encoding="utf-8")
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "b.txt").write_text("井盖丢了很危险", encoding="utf-8")
    (tmp_path / "b.wav").write_bytes(b"y")
    said = {b"x": "路灯坏了。", b"y": "井盖丢了"}

    def fake(audio: bytes, fmt: str) -> Transcript:
        return Transcript(said[audio], duration_seconds=2.0, seconds_spent=0.5, engine="fake")

    report = evaluate(tmp_path, fake)
    assert report.reference_chars == 11
    assert report.errors == 3
    assert report.cer == 3 / 11
    assert report.rtf == 0.25
    assert report.as_dict()["clips"] == 2
