"""Reading the resident's answers: skip words, yes/no, and what a message already says."""

from __future__ import annotations

import re
from typing import Any

from bot.types import Location
from handlers.intake.form import MAX_DESCRIPTION, IntakeForm, Slot
from handlers.intake.summary import read_anonymity
from handlers.parsing import (
    find_address,
    find_phone,
    find_time,
    normalise,
    parse_phone,
    tidy,
    without_filler,
)

__all__ = [
    "DONE_WORDS",
    "SKIP_WORDS",
    "UNKNOWN_TIME_WORDS",
    "compact",
    "fill_from_text",
    "is_description",
    "read_yes_no",
    "take_from_context",
]

# Fewer meaningful characters than this, and "我要投诉" has described nothing yet.
_MIN_DESCRIPTION = 4
SKIP_WORDS = frozenset(
    {"跳过", "略过", "没有", "无", "没", "不留", "不留电话", "不想留", "不方便", "不用", "不需要",
     "不用了", "不要了", "没有照片", "不了", "下一步", "没有了"}
)
UNKNOWN_TIME_WORDS = frozenset(
    {"不清楚", "不记得", "忘了", "不知道", "记不清", "记不清了", "不确定", "记不得了", "忘记了"}
)
DONE_WORDS = frozenset(
    {"发完了", "照片发完了", "好了", "完了", "就这些", "没有了", "没了", "发完", "完成", "好"}
)
_YES_WORDS = frozenset({"是", "是的", "要", "好", "好的", "可以", "对", "嗯", "需要", "行"})
_NO_WORDS = frozenset({"不", "否", "不要", "不用", "不需要", "不用了", "不要了", "不必"})


_SPACE_AND_PUNCTUATION = re.compile(r"[\s，,。.！!～~]")


def compact(text: str) -> str:
    return _SPACE_AND_PUNCTUATION.sub("", normalise(text))


def is_description(text: str) -> bool:
    """Whether ``text`` describes something, beyond naming the request type."""
    return len(without_filler(text)) >= _MIN_DESCRIPTION


def read_yes_no(text: str) -> bool | None:
    choice = read_anonymity(text)
    if choice is not None:
        return choice
    answer = compact(text)
    if answer in _YES_WORDS:
        return True
    if answer in _NO_WORDS:
        return False
    return None


def fill_from_text(form: IntakeForm, text: str) -> None:
    """The description, and whatever place, time and phone it already names."""
    cleaned = tidy(text)
    form.set_text(Slot.DESCRIPTION, cleaned[:MAX_DESCRIPTION])
    if not form.has(Slot.ADDRESS):
        form.set_text(Slot.ADDRESS, find_address(cleaned))
    if not form.has(Slot.WHEN):
        form.set_text(Slot.WHEN, find_time(cleaned))
    if not form.has(Slot.PHONE):
        phone = find_phone(cleaned)
        form.set_text(Slot.PHONE, parse_phone(phone) if phone else None)


def take_from_context(context: dict[str, Any], form: IntakeForm) -> None:
    """Photos, a location and a shared phone number sent before the request
    began belong to it now."""
    phone = context.pop("phone", None)
    if isinstance(phone, str) and phone:
        form.set_text(Slot.PHONE, phone)
    location = context.pop("location", None)
    if isinstance(location, dict) and "latitude" in location and "longitude" in location:
        form.set_location(Location(
            latitude=float(location["latitude"]),
            longitude=float(location["longitude"]),
            label=location.get("label") or None,
        ))
        if location.get("label"):
            form.set_text(Slot.ADDRESS, str(location["label"]))
    for photo in context.pop("photos", None) or []:
        ref = photo.get("url") or photo.get("media_id") if isinstance(photo, dict) else photo
        if ref:
            form.add_photo(str(ref))
