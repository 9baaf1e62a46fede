from __future__ import annotations

import pytest

from nlu.alignment import OffsetMap
from nlu.normalize import normalize_text


@pytest.mark.parametrize(
    ("original", "entity"),
    [
        ("我住在幸福里小區3號樓，電話13812345678", "13812345678"),
        ("😡😡 和平路１２号 路灯坏了", "和平路１２号"),
        ("楼道   灯坏了   在  东风街道", "东风街道"),
    ],
)
def test_entity_offsets_point_into_the_original_text(original: str, entity: str) -> None:
    normalised = normalize_text(original)
    target = normalize_text(entity)
    start = normalised.index(target)
    mapped = OffsetMap(original, normalised).span(start, start + len(target))
    assert original[mapped[0]:mapped[1]] == entity
