"""PatternEntityExtractor: deterministic `phone` and `ticket_id` entities.

Regexes beat a learned tagger for these (docs/domain.md section 5: jieba splits digit runs in
ways that do not line up with annotations). The component needs no training data; it also
drops entities from earlier extractors (DIET) that overlap a span it found, so a phone number
never comes back as a `location` or `time` as well.

- phone: mainland mobile ``1[3-9]\\d{9}`` (spaces or dashes allowed as 3-4-4) and landlines
  ``0\\d{2,3}-\\d{7,8}`` (e.g. 010-12345678, 0755-1234567); value is digits (and the dash).
- ticket_id: ``MH`` + 8-digit date + 4-digit sequence, any case; value is upper-cased.

It also tidies DIET's `location` spans, which on unseen names often cover only the generic
suffix token: adjacent location entities are merged (锦绣路 + 8号 -> 锦绣路8号), and a location
that is just a suffix (家园, 花园, 小区, ...) or starts with one takes in the jieba token before
it when that token is a 2-3 character name-like word (绿洲 + 家园 -> 绿洲家园).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

_PATTERNS = [
    ("ticket_id", re.compile(r"(?<![A-Za-z0-9])[Mm][Hh]\s?(20\d{6}\d{4})(?!\d)")),
    ("phone", re.compile(r"(?<![\d-])(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")),
    ("phone", re.compile(r"(?<![\d-])(0\d{2,3})[ -－—]?(\d{7,8})(?![\d-])")),
]


def find_entities(text: str) -> list[dict[str, Any]]:
    """Phone numbers and ticket ids in ``text`` as Rasa entity dicts (no overlaps)."""
    found: list[dict[str, Any]] = []
    taken: list[range] = []
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            span = range(m.start(), m.end())
            if any(set(span) & set(t) for t in taken):
                continue
            if name == "ticket_id":
                value = "MH" + m.group(1)
            elif len(m.groups()) == 3:
                value = "".join(m.groups())
            else:
                value = f"{m.group(1)}-{m.group(2)}"
            taken.append(span)
            found.append(
                {
                    "entity": name,
                    "start": m.start(),
                    "end": m.end(),
                    "value": value,
                    "confidence_entity": 1.0,
                }
            )
    return sorted(found, key=lambda e: e["start"])


_PLACE_SUFFIXES = frozenset(
    [
        "小区",
        "花园",
        "家园",
        "新村",
        "公寓",
        "大厦",
        "广场",
        "苑",
        "湾",
        "居",
        "里",
        "路",
        "街",
        "大街",
        "大道",
        "巷",
        "路口",
        "号",
        "号楼",
    ]
)
# Tokens that are never the start of a place name.
_NOT_NAME = frozenset(
    [
        "我们",
        "你们",
        "他们",
        "咱们",
        "这个",
        "那个",
        "这里",
        "那里",
        "我家",
        "我们家",
        "附近",
        "旁边",
        "对面",
        "门口",
        "住在",
        "天天",
        "每天",
        "一个",
        "这边",
        "那边",
        "社区",
        "物业",
        "保安",
        "举报",
        "投诉",
        "表扬",
        "感谢",
        "点赞",
        "建议",
        "希望",
        "请问",
    ]
)
_CJK_NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")


def fix_locations(
    entities: list[dict[str, Any]], tokens: list[Any], text: str
) -> list[dict[str, Any]]:
    """Merge adjacent `location` spans and extend suffix-only ones to the name before them."""
    locs = sorted((e for e in entities if e.get("entity") == "location"), key=lambda e: e["start"])
    others = [e for e in entities if e.get("entity") != "location"]
    merged: list[dict[str, Any]] = []
    for e in locs:
        if merged and merged[-1]["end"] == e["start"]:
            merged[-1] = {
                **merged[-1],
                "end": e["end"],
                "value": text[merged[-1]["start"] : e["end"]],
            }
        else:
            merged.append(dict(e))
    starts = {t.start: t for t in tokens}
    ends = {t.end: t for t in tokens}
    for e in merged:
        first = starts.get(e["start"])
        prev = ends.get(e["start"])
        if first is None or prev is None or first.text not in _PLACE_SUFFIXES:
            continue
        overlaps = any(o["start"] < e["start"] and prev.start < o["end"] for o in others)
        if _CJK_NAME.match(prev.text) and prev.text not in _NOT_NAME and not overlaps:
            e["start"] = prev.start
            e["value"] = text[e["start"] : e["end"]]
    return sorted(others + merged, key=lambda e: e.get("start", 0))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class PatternEntityExtractor(GraphComponent):
    """Adds `phone` and `ticket_id` entities found by regular expressions."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PatternEntityExtractor:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if any(e.get("entity") == "location" for e in message.get(ENTITIES, [])):
                tokens = message.get(TOKENS_NAMES[TEXT]) or []
                message.set(
                    ENTITIES,
                    fix_locations(message.get(ENTITIES, []), tokens, text),
                    add_to_output=True,
                )
            found = find_entities(text)
            if not found:
                continue
            for entity in found:
                entity["extractor"] = self.__class__.__name__
            spans = [(e["start"], e["end"]) for e in found]
            kept = [
                e
                for e in message.get(ENTITIES, [])
                if not any(
                    e.get("start", -1) < end and start < e.get("end", -1) for start, end in spans
                )
            ]
            message.set(
                ENTITIES,
                sorted(kept + found, key=lambda e: e.get("start", 0)),
                add_to_output=True,
            )
        return messages
