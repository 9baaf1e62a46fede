"""split_text: parts of at most 2048 UTF-8 bytes, cut where a reader would."""

from __future__ import annotations

import pytest

from integrations.wechat.api import split_text


def check(parts: list[str], text: str, limit: int) -> None:
    assert "".join(parts) == text
    assert all(parts)
    assert all(len(p.encode("utf-8")) <= limit for p in parts)


def test_short_text_is_one_part() -> None:
    assert split_text("你好") == ["你好"]
    assert split_text("") == []


def test_exactly_at_the_limit_is_one_part() -> None:
    text = "好" * 682 + "ab"  # 2046 + 2 bytes
    assert len(text.encode()) == 2048
    assert split_text(text) == [text]
    assert len(split_text(text + "c")) == 2


def test_chinese_splits_after_sentence_ends() -> None:
    sentence = "小区东门的路灯已经坏了三天，晚上居民出行很不方便。"  # 25 chars, 75 bytes
    text = sentence * 60  # 4500 bytes
    parts = split_text(text)
    check(parts, text, 2048)
    assert len(parts) == 3
    assert all(p.endswith("。") for p in parts)


@pytest.mark.parametrize("end", ["！", "？", "!", "?", "；", ";", "\n"])
def test_every_sentence_end_is_a_cut_point(end: str) -> None:
    text = ("甲" * 20 + end) * 10
    parts = split_text(text, limit_bytes=100)
    check(parts, text, 100)
    assert all(p.endswith(end) for p in parts)


def test_closing_quote_stays_with_its_sentence() -> None:
    text = "他说：“路灯修好了。”" * 10
    parts = split_text(text, limit_bytes=60)
    check(parts, text, 60)
    assert all(p.endswith("。”") for p in parts)


def test_a_long_sentence_is_cut_at_commas() -> None:
    clause = "因为施工围挡占用了人行道"  # 12 chars, 36 bytes
    text = "，".join([clause] * 100) + "。"
    parts = split_text(text)
    check(parts, text, 2048)
    assert len(parts) > 1
    assert all(p.endswith("，") for p in parts[:-1])


def test_mixed_latin_is_cut_at_spaces_when_there_is_no_punctuation() -> None:
    text = " ".join(["streetlight"] * 500)
    parts = split_text(text)
    check(parts, text, 2048)
    assert all(p.endswith(" ") for p in parts[:-1])


def test_mixed_chinese_and_latin() -> None:
    text = ("报修单号 A-20240501-0001 已受理。Your request was received! " * 80).strip()
    parts = split_text(text)
    check(parts, text, 2048)
    assert all(p[-1] in "。! " for p in parts[:-1])


def test_a_single_very_long_sentence_is_hard_cut_on_characters() -> None:
    text = "漏" * 2000  # 6000 bytes, no break anywhere
    parts = split_text(text)
    check(parts, text, 2048)
    assert [len(p) for p in parts] == [682, 682, 636]


def test_emoji_are_never_split() -> None:
    text = "😀" * 1000  # 4 bytes each
    parts = split_text(text)
    check(parts, text, 2048)
    assert [len(p) for p in parts] == [512, 488]
    for p in parts:
        p.encode("utf-8")  # no lone surrogates or halves


def test_emoji_sequences_stay_together_when_possible() -> None:
    family = "👨\u200d👩\u200d👧"  # 18 bytes
    text = "a" + family * 200
    parts = split_text(text, limit_bytes=100)
    check(parts, text, 100)
    for p in parts[1:]:
        assert p.startswith("👨")
    skin = "👍🏽"
    parts = split_text(skin * 50, limit_bytes=30)
    check(parts, skin * 50, 30)
    assert all(p.startswith("👍") for p in parts)


def test_limit_must_fit_a_character() -> None:
    with pytest.raises(ValueError):
        split_text("x", limit_bytes=3)
