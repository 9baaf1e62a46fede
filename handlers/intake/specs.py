"""What each request type asks for, and how each question is put."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.types import REQUEST_TYPES, Button, OutboundMessage
from handlers.intake.form import MAX_PHOTOS, IntakeForm, Slot

__all__ = [
    "CONFIRM",
    "DONE",
    "EDIT",
    "INTAKE_FLOW",
    "PAYLOAD_PREFIX",
    "SKIP",
    "SPECS",
    "TYPE_QUESTION",
    "Anonymity",
    "IntakeSpec",
    "payload",
    "question",
    "type_question",
]

INTAKE_FLOW = "intake"
# ``awaiting`` values besides the slots.
CONFIRM = "confirm"
EDIT = "edit"
TYPE_QUESTION = "type"
# Buttons of the intake carry payloads "INTAKE:<action>[:<argument>]".
PAYLOAD_PREFIX = "INTAKE:"


def payload(action: str, argument: str | None = None) -> str:
    if argument is None:
        return f"{PAYLOAD_PREFIX}{action}"
    return f"{PAYLOAD_PREFIX}{action}:{argument}"


class Anonymity(enum.Enum):
    NOT_OFFERED = "no"
    OFFERED = "offer"   # shown in the summary, changed on request
    ASKED = "ask"       # a question of its own, anonymous suggested


@dataclass(frozen=True, slots=True)
class IntakeSpec:
    request_type: str
    # Asked in this order, each only while missing.
    questions: tuple[Slot, ...]
    required: frozenset[Slot]
    anonymity: Anonymity
    description_prompt: str

    @property
    def label(self) -> str:
        return REQUEST_TYPES[self.request_type]

    def is_optional(self, slot: Slot) -> bool:
        return slot not in self.required

    def missing(self, form: IntakeForm) -> Slot | None:
        """The next question to ask, or None when the summary can be shown."""
        for slot in self.questions:
            if form.has(slot):
                continue
            if slot is Slot.PHONE and form.anonymous:
                continue  # an anonymous report is not asked who they are
            if slot in self.required or not form.was_asked(slot):
                return slot
        return None

    def fields(self) -> tuple[Slot, ...]:
        """What the resident may change from the summary."""
        fields: list[Slot] = [s for s in self.questions if s is not Slot.ANONYMOUS]
        if self.anonymity is not Anonymity.NOT_OFFERED:
            fields.append(Slot.ANONYMOUS)
        return tuple(fields)


_PLACE_EVENT = (Slot.DESCRIPTION, Slot.ADDRESS, Slot.WHEN, Slot.PHONE, Slot.PHOTOS)
_NEEDS_PLACE = frozenset({Slot.DESCRIPTION, Slot.ADDRESS})

SPECS: dict[str, IntakeSpec] = {
    "seek_help": IntakeSpec(
        "seek_help", _PLACE_EVENT, _NEEDS_PLACE, Anonymity.NOT_OFFERED,
        "请说说遇到了什么困难，需要什么帮助。",
    ),
    "complain": IntakeSpec(
        "complain", _PLACE_EVENT, _NEEDS_PLACE, Anonymity.OFFERED,
        "请说说您要投诉的具体情况。",
    ),
    "report": IntakeSpec(
        "report",
        (Slot.DESCRIPTION, Slot.ADDRESS, Slot.WHEN, Slot.ANONYMOUS, Slot.PHONE, Slot.PHOTOS),
        _NEEDS_PLACE, Anonymity.ASKED,
        "请说说您要举报的具体情况。",
    ),
    "suggest": IntakeSpec(
        "suggest", (Slot.DESCRIPTION, Slot.ADDRESS, Slot.PHONE), frozenset({Slot.DESCRIPTION}),
        Anonymity.NOT_OFFERED, "请说说您的建议。",
    ),
    "consult": IntakeSpec(
        "consult", (Slot.DESCRIPTION, Slot.PHONE), frozenset({Slot.DESCRIPTION}),
        Anonymity.NOT_OFFERED, "请说说您想咨询的问题。",
    ),
    "praise": IntakeSpec(
        "praise", (Slot.DESCRIPTION, Slot.TARGET, Slot.PHONE), frozenset({Slot.DESCRIPTION}),
        Anonymity.NOT_OFFERED, "请说说您要表扬的人和事。",
    ),
}

# The order the types are offered in when the resident has to choose.
_TYPE_ORDER = ("seek_help", "complain", "report", "suggest", "consult", "praise")

SKIP = payload("skip")
DONE = payload("done")


def type_question(prefix: str = "") -> OutboundMessage:
    buttons = tuple(Button(REQUEST_TYPES[name], payload("type", name)) for name in _TYPE_ORDER)
    return OutboundMessage.with_buttons(f"{prefix}请问您这次是想：", buttons)


def question(spec: IntakeSpec, slot: Slot, form: IntakeForm, prefix: str = "") -> OutboundMessage:
    """The question for ``slot``, with buttons where a tap is easier than typing."""
    text, buttons = _question(spec, slot, form)
    return OutboundMessage.with_buttons(prefix + text, buttons) if buttons else (
        OutboundMessage.of_text(prefix + text)
    )


def _question(spec: IntakeSpec, slot: Slot, form: IntakeForm) -> tuple[str, tuple[Button, ...]]:
    optional = spec.is_optional(slot)
    if slot is Slot.DESCRIPTION:
        return spec.description_prompt + "（回复“取消”可随时退出）", ()
    if slot is Slot.ADDRESS:
        if optional:
            return (
                "这条建议涉及具体地点吗？有的话请说明位置，没有请点“跳过”。",
                (Button("跳过", SKIP),),
            )
        return (
            "请问具体在什么地方？请说明小区、路名门牌或附近的标志性建筑，"
            "也可以点输入框旁的“+”发送位置。",
            (),
        )
    if slot is Slot.WHEN:
        return (
            "大概是什么时候发生的？例如“昨天晚上”“今天早上8点”。",
            (Button("不清楚", payload("unknown")), Button("跳过", SKIP)),
        )
    if slot is Slot.ANONYMOUS:
        return (
            f"是否匿名{spec.label}？选择匿名后，您的身份信息会严格保密，也不需要留电话。",
            (Button("匿名（推荐）", payload("anonymous", "yes")),
             Button("不匿名", payload("anonymous", "no"))),
        )
    if slot is Slot.PHONE:
        return (
            "方便的话请留一个联系电话（手机号或带区号的固定电话），"
            "承办部门可能需要向您核实情况。不留也可以，办理进展会在这里通知您。",
            (Button("不留电话", SKIP),),
        )
    if slot is Slot.PHOTOS:
        count = len(form.photos)
        if count:
            return (
                f"已有{count}张照片，还可以继续发送（最多{MAX_PHOTOS}张），发完请点“照片发完了”。",
                (Button("照片发完了", DONE), Button("清空照片", payload("clear_photos"))),
            )
        return (
            f"有现场照片的话可以直接发送（最多{MAX_PHOTOS}张），能帮助更快处理；没有请点“没有照片”。",
            (Button("没有照片", SKIP),),
        )
    return (
        "您要表扬的是哪个单位或哪位工作人员？知道的话请告诉我，不清楚可以点“跳过”。",
        (Button("跳过", SKIP),),
    )
