"""Splitting text to Telegram's 4096 characters (UTF-16 units)."""

from __future__ import annotations

from integrations.telegram.text import split_text, utf16_len


def test_short_text_is_one_part_and_empty_text_none() -> None:
    assert split_text("你好") == ["你好"]
    assert split_text("") == []


def test_cuts_after_sentences_then_clauses_then_spaces() -> None:
    assert split_text("一二三。四五六。七八", 8) == ["一二三。四五六。", "七八"]
    assert split_text("一二三，四五六七八九", 8) == ["一二三，", "四五六七八九"]
    assert split_text("abc def ghij", 8) == ["abc def ", "ghij"]
    assert split_text("「好的。」然后", 6) == ["「好的。」", "然后"]


def test_emoji_count_twice_and_are_never_cut() -> None:
    text = "😀" * 5
    parts = split_text(text, 4)
    assert parts == ["😀😀", "😀😀", "😀"]
    assert all(utf16_len(p) <= 4 for p in parts)
    family = "👨\u200d👩\u200d👧"
    # 10 units in parts of 8: the family emoji moves whole to the next part.
    assert split_text("ab" + family, 8) == ["ab", family]


def test_every_part_fits_and_nothing_is_lost() -> None:
    text = ("办理意见：请社区网格员上门核实情况并反馈，" * 600) + "完"
    parts = split_text(text)
    assert all(utf16_len(p) <= 4096 for p in parts) and len(parts) >= 3
    assert "".join(parts) == text
