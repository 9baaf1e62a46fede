"""The recognisers that read answers and pre-fill requests."""

from __future__ import annotations

import pytest

from handlers.parsing import (
    find_address,
    find_phone,
    find_ticket_id,
    find_time,
    is_cancel_text,
    looks_like_emergency,
    parse_phone,
)


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("和平路12号门口的路灯坏了一个星期", "和平路12号门口"),
        ("幸福里小区门口路灯坏了", "幸福里小区门口"),
        ("在和平路12号门口有个井盖丢了", "和平路12号门口"),
        ("建议在和平路口加个红绿灯", "和平路口"),
        ("人民公园的厕所很脏", "人民公园"),
        ("昨晚在幸福里小区3号楼下面有人偷倒垃圾", "幸福里小区3号楼"),
        ("我家楼下和平路12号天天有人摆摊", "和平路12号"),
        ("今天早上8点在东风新村2栋", "东风新村2栋"),
        ("投诉和平路12号的烧烤店", "和平路12号"),
    ],
)
def test_places_named_in_a_message_are_found(text: str, place: str) -> None:
    assert find_address(text) == place


@pytest.mark.parametrize(
    "text",
    ["路灯坏了", "马路上有坑", "楼下饭店油烟太大，天天熏得开不了窗", "挡住了半边路",
     "街道办不作为"],
)
def test_no_place_is_made_up(text: str) -> None:
    assert find_address(text) is None


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("路灯昨天晚上开始不亮了", "昨天晚上"),
        ("今天早上8点有人砸车", "今天早上8点"),
        ("上周三下午三点左右", "上周三下午三点左右"),
        ("路灯坏了三天了，没人修", "三天了"),
        ("11月3日晚上停电", "11月3日晚上"),
    ],
)
def test_times_are_found_as_written(text: str, when: str) -> None:
    assert find_time(text) == when


@pytest.mark.parametrize("text", ["和平路12号门口", "孩子3个月大", "水一直往外冒"])
def test_no_time_is_made_up(text: str) -> None:
    assert find_time(text) is None


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("0755 12345678", "075512345678"),
        ("1381234567", None),
        ("12812345678", None),
        ("电话13812345678", None),
    ],
)
def test_a_phone_answer_is_validated(typed: str, phone: str | None) -> None:
    assert parse_phone(typed) == phone


def test_phones_and_ticket_numbers_are_found_in_text() -> None:
    assert find_phone("我的电话是13912345678，白天都在") == "13912345678"
    assert find_phone("号码是0123") is None
    assert find_ticket_id("查一下mh202611230007的进度") == "MH202611230007"
    assert find_ticket_id("MH2026112300071") is None


def test_cancel_words_and_no_thanks() -> None:
    assert is_cancel_text("取消")
    assert is_cancel_text("算了吧。")
    assert is_cancel_text("不用了")
    assert not is_cancel_text("不用了", optional_question=True)
    assert is_cancel_text("不办了", optional_question=True)
    assert not is_cancel_text("取消的那个航班")


def test_emergencies_are_recognised_and_ordinary_words_are_not() -> None:
    assert looks_like_emergency("救命 楼道里着火了")
    assert looks_like_emergency("有人晕倒了")
    assert looks_like_emergency("闻到煤气泄漏的味道")
    assert not looks_like_emergency("火锅店油烟太大")
    assert not looks_like_emergency("路灯坏了")


def test_a_duration_dates_the_problem_better_than_a_bare_part_of_the_day() -> None:
    assert find_time("路灯坏了一个星期了，晚上黑得看不见路") == "一个星期了"
    assert find_time("昨天晚上楼下很吵") == "昨天晚上"
    assert find_time("晚上有人施工") == "晚上"
