from __future__ import annotations

import pytest

from nlu.keywords import CATEGORIES, KeywordUnderstanding, extract_entities

understanding = KeywordUnderstanding()


def test_categories_are_the_fifteen_first_level_classes_plus_other() -> None:
    assert len(CATEGORIES) == 16
    assert {"城乡建设", "环境保护", "交通运输", "劳动和社会保障", "其他"} <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("text", "intent", "category"),
    [
        ("楼下着火了，好多烟", "emergency", None),
        ("我要投诉楼下烧烤店油烟太大", "complain", "环境保护"),
        ("举报有人往河里偷排污水", "report", "环境保护"),
        ("平台拖欠我们骑手三个月工资", "complain", "劳动和社会保障"),
        ("请问居住证怎么办理", "consult", "政法"),
        ("建议小区多装几个电动车充电桩", "suggest", "城乡建设"),
        ("转人工", "human", "其他"),
        ("你好", "greet", "其他"),
        ("今天天气怎么样", "out_of_scope", "其他"),
        ("查一下MH202611230017的进度", "query_status", "其他"),
    ],
)
async def test_keyword_rules(text: str, intent: str, category: str | None) -> None:
    result = await understanding.parse(text)
    assert result.name == intent
    assert result.source == "keywords"
    if category is not None:
        assert result.category == category


def test_full_width_input_is_understood() -> None:
    assert understanding.parse_sync("ｍｈ２０２６１１２３００１７　进度").name == "query_status"


def test_structured_entities() -> None:
    entities = extract_entities("工单mh202611230017，电话13812345678，座机010-62345678")
    assert [(e.entity, e.value) for e in entities] == [
        ("ticket_id", "MH202611230017"),
        ("phone", "13812345678"),
        ("phone", "010-62345678"),
    ]
