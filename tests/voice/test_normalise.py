"""Numbers, phone numbers and house numbers in transcripts become digits."""

from __future__ import annotations

import pytest

from handlers.parsing import find_address, find_phone
from handlers.voice import chinese_number, normalise_transcript


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("三号楼二单元五零一", "3号楼2单元501"),
        ("幺三八一二三四五六七八", "13812345678"),
        ("我的电话是幺三八 一二三四 五六七八", "我的电话是13812345678"),
        ("我的电话是138 1234 5678", "我的电话是13812345678"),
        ("电话138-1234-5678", "电话13812345678"),
        ("零五七一八七六五四三二一", "057187654321"),
        ("和平路一百二十三号门口", "和平路123号门口"),
        ("幸福里小区十二栋一百零三室", "幸福里小区12栋103室"),
        ("二十号楼", "20号楼"),
        ("地铁两号线", "地铁2号线"),
        ("三月五号晚上", "3月5号晚上"),
        ("和平路 12 号", "和平路12号"),
        ("１２号", "12号"),
    ],
)
def test_spoken_numbers_become_digits(spoken: str, written: str) -> None:
    assert normalise_transcript(spoken) == written


@pytest.mark.parametrize(
    "text",
    [
        "一二线城市虽然也处于调整中",
        "甚至出现交易几乎停滞的情况",
        "路灯一直不亮已经三天了",
        "五一路口的红绿灯坏了",
        "麻烦看一下",
        "两三个人",
    ],
)
def test_words_with_numerals_are_left_alone(text: str) -> None:
    assert normalise_transcript(text) == text


@pytest.mark.parametrize(
    ("spoken", "value"),
    [("十", 10), ("十二", 12), ("二十", 20), ("三十五", 35), ("一百", 100), ("一百零五", 105),
     ("一百二十三", 123), ("两千", 2000), ("两千五", 2500), ("三百五", 350), ("五零一", 501),
     ("幺幺零", 110), ("12", 12)],
)
def test_chinese_numbers(spoken: str, value: int) -> None:
    assert chinese_number(spoken) == value


@pytest.mark.parametrize("text", ["", "十二三", "百十", "三a", "和平"])
def test_what_is_not_a_number(text: str) -> None:
    assert chinese_number(text) is None


def test_the_intake_recognisers_read_a_normalised_transcript() -> None:
    spoken = "和平路十二号门口的路灯坏了，我电话幺三九零零零零一一一一"
    text = normalise_transcript(spoken)
    assert find_address(text) == "和平路12号门口"
    assert find_phone(text) == "13900001111"


def test_chinese_punctuation_stays() -> None:
    assert normalise_transcript("保安不让进门，每次都要绕路。") == "保安不让进门，每次都要绕路。"
    assert normalise_transcript("Ａ座３层") == "A座3层"
