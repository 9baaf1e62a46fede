"""Checks of what callers give the work-order service: lengths, numbers, photos, keys.

Each raises :class:`.records.InvalidFiling` (a 400 over HTTP) with a message
in Chinese that says what to fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .records import InvalidFiling

__all__ = [
    "FIELD_LIMITS",
    "MAX_COMMENT_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_MEDIA",
    "MAX_MEDIA_URL_CHARS",
    "actor_name",
    "clean_idempotency_key",
    "coordinates",
    "media_references",
    "optional_note",
    "optional_text",
    "required_text",
]

# Open311 limits a description to 4,000 characters; the same for notes.
MAX_DESCRIPTION_CHARS = 4000
MAX_COMMENT_CHARS = 1000
MAX_MEDIA = 20
MAX_MEDIA_URL_CHARS = 1000
MAX_IDEMPOTENCY_KEY_CHARS = 128

# Longest value accepted for each optional text field of a filing (the column sizes).
FIELD_LIMITS: dict[str, tuple[str, int]] = {
    "address": ("地址", 500),
    "address_id": ("地址编号", 128),
    "district": ("所在区", 64),
    "street": ("所在街道", 64),
    "occurred_at": ("发生时间", 100),
    "phone": ("联系电话", 32),
    "account_id": ("账号", 128),
    "first_name": ("名", 64),
    "last_name": ("姓", 64),
    "email": ("电子邮箱", 254),
    "device_id": ("设备编号", 128),
}


def clean_idempotency_key(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not value.isprintable():
        raise InvalidFiling(f"幂等键须为不超过 {MAX_IDEMPOTENCY_KEY_CHARS} 个可见字符的文字。")
    return value


def optional_text(value: str | None, label: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFiling(f"{label}应为文字。")
    value = value.strip()
    if not value:
        return None
    if len(value) > limit:
        raise InvalidFiling(f"{label}不能超过 {limit} 个字。")
    return value


def required_text(value: str | None, label: str, limit: int) -> str:
    text = optional_text(value, label, limit)
    if text is None:
        raise InvalidFiling(f"请填写{label}。")
    return text


def optional_note(value: str | None) -> str | None:
    return optional_text(value, "处理意见", MAX_DESCRIPTION_CHARS)


def actor_name(value: str) -> str:
    value = (value or "").strip()
    return value[:128] if value else "工作人员"


def coordinates(lat: float | None, long: float | None) -> tuple[float | None, float | None]:
    if lat is None and long is None:
        return None, None
    if lat is None or long is None:
        raise InvalidFiling("经纬度须同时提供 lat 和 long。")
    try:
        lat_value, long_value = float(lat), float(long)
    except (TypeError, ValueError):
        raise InvalidFiling("经纬度应为数字。") from None
    if not (math.isfinite(lat_value) and -90 <= lat_value <= 90):
        raise InvalidFiling("纬度 lat 应在 -90 到 90 之间。")
    if not (math.isfinite(long_value) and -180 <= long_value <= 180):
        raise InvalidFiling("经度 long 应在 -180 到 180 之间。")
    return lat_value, long_value


def media_references(values: Sequence[str]) -> list[str]:
    """Photo references: URLs, or a channel's media ids when it gave no URL."""
    items = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if len(items) > MAX_MEDIA:
        raise InvalidFiling(f"图片最多 {MAX_MEDIA} 张。")
    for item in items:
        if len(item) > MAX_MEDIA_URL_CHARS or not item.isprintable() or " " in item:
            raise InvalidFiling("图片地址无效。")
    return items
