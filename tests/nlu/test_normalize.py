"""Unit tests for nlu.normalize.normalize_text."""

from __future__ import annotations

import time

import pytest

from nlu.normalize import normalize_text, to_simplified


def test_traditional_to_simplified() -> None:
    assert normalize_text("請問老舊小區改造包括哪些內容") == "请问老旧小区改造包括哪些内容"
    assert normalize_text("電瓶車被偷了，麻煩幫忙找找") == "电瓶车被偷了，麻烦帮忙找找"


def test_simplified_passes_through() -> None:
    text = "我们小区的路灯坏了，请派人来修。"
    assert normalize_text(text) == text
    assert to_simplified(text) == text


def test_fullwidth_letters_and_digits_fold_to_ascii() -> None:
    assert (
        normalize_text("ＭＨ２０２６１１２３００１７现在什么状态") == "MH202611230017现在什么状态"
    )
    assert normalize_text("电话１３８００１３８０００") == "电话13800138000"


def test_chinese_sentence_punctuation_is_kept() -> None:
    assert normalize_text("停水了！！什么时候来水？（急）") == "停水了！！什么时候来水？（急）"
    assert (
        normalize_text("地址：和平路12号；电话：010-12345678")
        == "地址：和平路12号；电话：010-12345678"
    )


def test_clock_colon_between_digits_becomes_ascii() -> None:
    assert normalize_text("晚上１０：３０还在施工") == "晚上10:30还在施工"


def test_emoji_removed_and_whitespace_collapsed() -> None:
    assert normalize_text("师傅辛苦了👍👍🙏") == "师傅辛苦了"
    assert normalize_text("你好👋   在吗") == "你好 在吗"
    assert normalize_text("👨‍👩‍👧 家里停电了") == "家里停电了"
    assert normalize_text("  \t路灯\n坏了  ") == "路灯 坏了"


def test_wechat_sticker_codes_removed_but_other_brackets_kept() -> None:
    assert normalize_text("又停水了[捂脸][强]") == "又停水了"
    assert normalize_text("又停水了[強]") == "又停水了"
    assert normalize_text("位置在[3号楼]后面") == "位置在[3号楼]后面"


def test_invisible_characters_removed() -> None:
    assert normalize_text("路\u200b灯\ufeff坏了") == "路灯坏了"


@pytest.mark.parametrize("text", ["", "   ", "😂😂"])
def test_empty_like_inputs(text: str) -> None:
    assert normalize_text(text) == ""


def test_ascii_only_text_untouched_except_whitespace() -> None:
    assert normalize_text("hello  world") == "hello world"


def test_idempotent() -> None:
    text = "我們小區的電動車充電樁壞了！！😡 電話：１３８００１３８０００"
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_fast_enough() -> None:
    normalize_text("预热")
    text = "我們小區的電動車充電樁壞了，已經三天了，沒人管，請儘快處理"
    start = time.perf_counter()
    for _ in range(200):
        normalize_text(text)
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.005  # well under the ~25 ms a /model/parse call costs


def test_skipping_the_converter_never_changes_the_result() -> None:
    import json

    from nlu.cli import HELDOUT
    from nlu.normalize import _t2s, _traditional_marks, to_simplified

    texts = [json.loads(line)["text"] for line in HELDOUT.read_text("utf-8").splitlines() if line]
    texts += ["乾燥的天氣", "頭髮", "皇后", "後來", "一隻貓", "我們小區的電動車充電樁壞了"]
    for text in texts:
        assert to_simplified(text) == _t2s()(text), text
    assert sum(_traditional_marks().isdisjoint(t) for t in texts) > len(texts) // 2


def test_common_simplified_words_do_not_wake_the_converter() -> None:
    """什么/怎么/多么 change only inside rare phrases (么麼): no conversion runs for them."""
    from nlu.normalize import _t2s, _traditional_marks

    for text in ("居住证到期了怎么续办？", "什么时候来修", "多么负责的网格员"):
        assert _traditional_marks().isdisjoint(text), text
        assert _t2s()(text) == text


def test_every_dictionary_phrase_converts_the_same_with_the_shortcut() -> None:
    """The marks are complete: any text the converter would change has one."""
    import random
    from pathlib import Path

    import opencc

    from nlu.normalize import _t2s, _traditional_marks

    folder = Path(opencc.__file__).with_name("dictionary")
    texts: list[str] = []
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, values = line.partition("\t")
            texts.append(key)
            texts.extend(values.split(" "))
    rng = random.Random(7)
    texts += ["".join(rng.choice(texts) for _ in range(3)) for _ in range(5000)]
    convert, marks = _t2s(), _traditional_marks()
    changed_without_mark = [t for t in texts if marks.isdisjoint(t) and convert(t) != t]
    assert changed_without_mark == []
