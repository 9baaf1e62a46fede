"""The summary shown before filing, and reading what the resident says to it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handling import intent_button
from bot.types import Button, OutboundMessage
from handlers.formatting import mask_phone
from handlers.intake.form import IntakeForm, Slot
from handlers.intake.specs import Anonymity, IntakeSpec, payload
from handlers.parsing import normalise, tidy

__all__ = [
    "FIELD_LABELS",
    "Correction",
    "edit_menu",
    "is_confirmation",
    "is_edit_request",
    "read_anonymity",
    "read_correction",
    "summary",
]

FIELD_LABELS: dict[Slot, str] = {
    Slot.DESCRIPTION: "内容",
    Slot.ADDRESS: "地点",
    Slot.WHEN: "时间",
    Slot.PHONE: "联系电话",
    Slot.PHOTOS: "照片",
    Slot.ANONYMOUS: "匿名",
    Slot.TARGET: "表扬对象",
}
# A summary must fit one passive reply (WeChat: 2048 bytes), so a long
# description is shortened on screen; the ticket gets all of it.
_SHOWN_DESCRIPTION = 300
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")

_CONFIRM_WORDS = frozenset(
    {"确认", "确认提交", "提交", "确定", "确定提交", "没问题", "对", "对的", "是", "是的",
     "好", "好的", "可以", "行", "没错", "确认无误", "无误", "就这样", "提交吧", "确认吧"}
)
_EDIT_WORDS = frozenset({"修改", "改", "改一下", "要改", "不对", "有误", "有错", "重新填", "改改"})

_FIELD_WORDS: tuple[tuple[Slot, str], ...] = (
    (Slot.ADDRESS, "地址|地点|位置|地方"),
    (Slot.PHONE, "电话号码|电话|手机号码|手机号|手机|号码|联系方式"),
    (Slot.WHEN, "时间|日期"),
    (Slot.TARGET, "表扬对象|表扬的人"),
    (Slot.DESCRIPTION, "描述|内容|情况"),
)
_WRONG = r"(?:也)?(?:不对|错了|写错了|有误|有错|要改|改一下|需要改)?"
_TO = r"(?:应该|应|改成|改为|换成|更正为|是|为|写|：|:)+"


@dataclass(frozen=True, slots=True)
class Correction:
    """A field the resident named; ``value`` None means "ask me for it"."""

    slot: Slot
    value: str | None


def _compact(text: str) -> str:
    return re.sub(r"[\s，,。.！!～~]", "", normalise(text))


def is_confirmation(text: str) -> bool:
    return _compact(text) in _CONFIRM_WORDS


def is_edit_request(text: str) -> bool:
    return _compact(text) in _EDIT_WORDS


def read_correction(text: str) -> Correction | None:
    """"地址不对，是和平路12号" → (address, 和平路12号); "时间不对" → (when, None)."""
    cleaned = tidy(text).rstrip("。")
    for slot, words in _FIELD_WORDS:
        match = re.match(
            rf"^(?:把)?(?:{words}){_WRONG}[，,、\s]*{_TO}\s*(?P<value>.+)$", cleaned
        )
        if match:
            value = match.group("value").strip(" ，,。")
            return Correction(slot, value or None)
        if re.fullmatch(rf"(?:{words})(?:不对|错了|写错了|有误|有错|要改|改一下|需要改)", cleaned):
            return Correction(slot, None)
    return None


def read_anonymity(text: str) -> bool | None:
    """"匿名吧" → True, "不用匿名"/"实名" → False, anything else → None."""
    answer = _compact(text)
    if "匿名" in answer and re.match(r"^(?:不用|不要|不需要|不必|不|取消|别)", answer):
        return False
    ending = r"(?:吧|反映|举报|投诉|提交|处理)?"
    if re.fullmatch(rf"(?:改成|改为|换成|还是|用|我要)?实名{ending}", answer):
        return False
    if re.fullmatch(rf"(?:我要|我想|要|改成|改为|换成|还是|请|需要)?匿名{ending}", answer):
        return True
    return None


def _place(form: IntakeForm) -> str | None:
    address = form.text(Slot.ADDRESS)
    if address:
        return address
    location = form.location
    if location is None:
        return None
    if location.label:
        return location.label
    return f"已发送的位置（{location.latitude:.5f}, {location.longitude:.5f}）"


def _shown_description(form: IntakeForm) -> str:
    text = form.text(Slot.DESCRIPTION) or "未填写"
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
    if len(text) > _SHOWN_DESCRIPTION:
        text = text[:_SHOWN_DESCRIPTION] + "……"
    return text


def summary(spec: IntakeSpec, form: IntakeForm, prefix: str = "") -> OutboundMessage:
    kind = spec.label + (f"（{form.category}）" if form.category != "其他" else "")
    lines = [f"{prefix}请核对您的{spec.label}内容：", f"类型：{kind}",
             f"内容：{_shown_description(form)}"]
    shown = set(spec.questions)
    if Slot.ADDRESS in shown or form.has(Slot.ADDRESS):
        lines.append(f"地点：{_place(form) or '未填写'}")
    if Slot.WHEN in shown or form.has(Slot.WHEN):
        lines.append(f"时间：{form.text(Slot.WHEN) or '未填写'}")
    if Slot.TARGET in shown:
        lines.append(f"表扬对象：{form.text(Slot.TARGET) or '未填写'}")
    phone = form.text(Slot.PHONE)
    lines.append(f"联系电话：{mask_phone(phone) if phone else '未留'}")
    if Slot.PHOTOS in shown or form.photos:
        lines.append(f"照片：{len(form.photos)}张" if form.photos else "照片：无")
    if spec.anonymity is not Anonymity.NOT_OFFERED:
        anonymous = "是" if form.anonymous else "否"
        hint = "（如需匿名，回复“匿名”）" if not form.anonymous else ""
        lines.append(f"匿名：{anonymous}{hint}")
    lines.append(
        "确认无误请点“确认提交”；要改动请点“修改”，也可以直接说，例如“地址改成和平路12号”。"
    )
    buttons = (
        Button("确认提交", payload("confirm")),
        Button("修改", payload("edit")),
        intent_button("取消", "cancel"),
    )
    return OutboundMessage.with_buttons("\n".join(lines), buttons)


def edit_menu(spec: IntakeSpec) -> OutboundMessage:
    buttons = [Button(FIELD_LABELS[slot], payload("edit", slot.value)) for slot in spec.fields()]
    buttons.append(Button("诉求类型", payload("edit", "type")))
    buttons.append(Button("不改了", payload("summary")))
    return OutboundMessage.with_buttons("请问要修改哪一项？", tuple(buttons))
