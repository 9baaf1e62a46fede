"""The rider fast path: a quick button, a location, one voice note, one confirmation.

Delivery riders and couriers talk with one hand on the handlebar. They pick
their problem from seven quick buttons, share where they are (a shared
location, or the WeChat location event their phone reports by itself), say
one sentence, and confirm once: that files the request. Nothing else is
asked; the type and the category come from the button.

Flow ``rider`` keeps in ``slots``: ``problem`` (a :data:`RIDER_PROBLEMS`
code), ``text`` (what they said or typed, not yet confirmed) and
``location``. ``awaiting`` is ``rider`` (so NLU is not asked about the
answers) or ``rider_confirm`` once the confirmation is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.handling import Turn, intent_button
from bot.ports import Tickets
from bot.types import (
    REQUEST_TYPES,
    Button,
    EventKind,
    InboundKind,
    Location,
    OutboundMessage,
    TicketDraft,
)
from handlers.formatting import mask_phone
from handlers.ids import action_id
from handlers.intake import filed_message
from handlers.intake.summary import is_confirmation
from handlers.parsing import is_cancel_text, normalise
from handlers.texts import CANCELLED

__all__ = [
    "RIDER_CONFIRM",
    "RIDER_FLOW",
    "RIDER_MENU_PAYLOADS",
    "RIDER_PROBLEMS",
    "RiderHandler",
    "RiderProblem",
    "rider_menu",
]

RIDER_FLOW = "rider"
RIDER_CONFIRM = "rider_confirm"
_AWAITING = "rider"
# Payloads: "RIDER" shows the quick buttons, "RIDER:<code>" picks one,
# "RIDER:file" / "RIDER:redo" answer the confirmation.
RIDER_PREFIX = "RIDER"
RIDER_MENU_PAYLOADS = frozenset({"RIDER", "MENU_RIDER"})
FILE = "RIDER:file"
REDO = "RIDER:redo"
# Typed words that open the quick buttons.
_RIDER_WORDS = frozenset({"骑手", "骑手通道", "我是骑手", "外卖骑手", "快递员", "外卖小哥",
                          "快递小哥", "小哥", "骑手求助", "骑手反映", "配送员"})
# A location the phone reported by itself is used when it is this recent.
REPORTED_LOCATION_MAX_AGE = timedelta(minutes=30)
_NO_WORDS = frozenset({"不对", "不是", "错了", "不对重说", "重说", "重新说", "不正确"})


@dataclass(frozen=True, slots=True)
class RiderProblem:
    """A quick button: the request type and the category (the first level
    of the government message taxonomy, which routes it) and, for the
    record, the finer classes it usually falls under."""

    code: str
    title: str
    request_type: str
    category: str
    taxonomy: str


# Categories from /work/shared/data/taxonomy (level1 / level2 / level3).
RIDER_PROBLEMS: tuple[RiderProblem, ...] = (
    RiderProblem("gate", "进门难", "seek_help", "城乡建设",
                 "城乡建设/城市建设和市政管理/小区管理"),
    RiderProblem("charge", "充电/换电", "seek_help", "城乡建设",
                 "城乡建设/城市建设和市政管理/居民服务设施"),
    RiderProblem("parking", "停车", "seek_help", "城乡建设",
                 "城乡建设/城市建设和市政管理/城市公共设施"),
    RiderProblem("station", "驿站/用餐", "suggest", "城乡建设",
                 "城乡建设/城市建设和市政管理/居民服务设施"),
    RiderProblem("platform", "平台规则/罚款", "complain", "交通运输",
                 "交通运输/邮政管理/快递市场管理"),
    RiderProblem("wages", "欠薪/社保", "complain", "劳动和社会保障",
                 "劳动和社会保障/工资福利/工资发放"),
    RiderProblem("traffic", "交通", "seek_help", "政法",
                 "政法/交通管理/交通安全管理"),
)
_BY_CODE = {p.code: p for p in RIDER_PROBLEMS}


def rider_menu(prefix: str = "") -> OutboundMessage:
    buttons = tuple(Button(p.title, f"{RIDER_PREFIX}:{p.code}") for p in RIDER_PROBLEMS)
    return OutboundMessage.with_buttons(
        f"{prefix}骑手小哥您好！请选择遇到的问题，再发个位置、按住说一句话，确认一下就提交了：",
        buttons,
    )


def is_rider_payload(payload: str | None) -> bool:
    return payload is not None and (
        payload in RIDER_MENU_PAYLOADS or payload.startswith(f"{RIDER_PREFIX}:")
    )


_PUNCTUATION_AND_SPACE = str.maketrans("", "", " ，,。.！!～~？?")


def _compact(text: str) -> str:
    return normalise(text).translate(_PUNCTUATION_AND_SPACE)


def _location_of(data: Any) -> Location | None:
    if not isinstance(data, dict) or "latitude" not in data or "longitude" not in data:
        return None
    return Location(float(data["latitude"]), float(data["longitude"]),
                    label=data.get("label") or None)


def _kept(location: Location) -> dict[str, Any]:
    return {"latitude": location.latitude, "longitude": location.longitude,
            "label": location.label}


def _place(location: Location) -> str:
    return location.label or f"{location.latitude:.5f}, {location.longitude:.5f}"


def _recent_reported(context: dict[str, Any], now: datetime) -> Location | None:
    """The location the phone reported by itself (WeChat's LOCATION event), if recent."""
    data = context.get("reported_location")
    if not isinstance(data, dict):
        return None
    at = data.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    if when is None or now - when > REPORTED_LOCATION_MAX_AGE:
        return None
    return _location_of(data)


class RiderFlow:
    """The steps of the fast path; shared by :class:`RiderHandler` and the voice gate."""

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    @staticmethod
    def active(turn: Turn) -> bool:
        return turn.state.flow == RIDER_FLOW

    def start(self, turn: Turn, problem: RiderProblem) -> OutboundMessage:
        state = turn.state
        location = _location_of(state.context.pop("location", None)) or _recent_reported(
            state.context, turn.now
        )
        state.start_flow(RIDER_FLOW, awaiting=_AWAITING)
        state.slots.update({"problem": problem.code, "text": None,
                            "location": _kept(location) if location else None})
        if location is not None:
            return OutboundMessage.of_text(
                f"【{problem.title}】已用您的位置：{_place(location)}。"
                "请按住说话，用一句话说说情况（60秒以内），也可以直接打字。"
            )
        return OutboundMessage.of_text(
            f"【{problem.title}】请先发送您的位置（点输入框旁的“+”→位置），"
            "再按住说话，用一句话说说情况（60秒以内）。"
        )

    def located(self, turn: Turn, location: Location, *, automatic: bool) -> list[OutboundMessage]:
        slots = turn.state.slots
        if automatic and _location_of(slots.get("location")) is not None:
            return []  # a shared location beats the phone's own report
        slots["location"] = _kept(location)
        if slots.get("text"):
            return [self.confirmation(turn, prefix=f"位置已记下：{_place(location)}。\n")]
        if automatic:
            return []
        return [OutboundMessage.of_text(
            f"位置已记下：{_place(location)}。请按住说话，用一句话说说情况，也可以直接打字。"
        )]

    def described(self, turn: Turn, text: str, *, spoken: bool) -> OutboundMessage:
        """What the rider said or typed: the confirmation when the place is known."""
        slots = turn.state.slots
        slots["text"] = text
        if _location_of(slots.get("location")) is None:
            turn.state.awaiting = _AWAITING
            heard = f"您说的是：“{text}”。" if spoken else "已记下。"
            return OutboundMessage.of_text(
                f"{heard}还需要您的位置：请点输入框旁的“+”→位置发送，收到后确认一下就提交。"
            )
        return self.confirmation(turn)

    def confirmation(self, turn: Turn, prefix: str = "") -> OutboundMessage:
        state = turn.state
        state.awaiting = RIDER_CONFIRM
        problem = _BY_CODE[str(state.slots["problem"])]
        location = _location_of(state.slots.get("location"))
        lines = [
            f"{prefix}您说的是：“{state.slots.get('text')}” 对吗？",
            f"确认后直接提交{REQUEST_TYPES[problem.request_type]}：",
            f"问题：{problem.title}（{problem.category}）",
            f"地点：{_place(location) if location else '未发送'}",
        ]
        phone = state.context.get("phone")
        if isinstance(phone, str) and phone:
            lines.append(f"联系电话：{mask_phone(phone)}")
        return OutboundMessage.with_buttons("\n".join(lines), (
            Button("对，提交", FILE),
            Button("不对，重说", REDO),
            intent_button("取消", "cancel"),
        ))

    def redo(self, turn: Turn) -> OutboundMessage:
        turn.state.slots["text"] = None
        turn.state.awaiting = _AWAITING
        return OutboundMessage.of_text("好的，请再按住说一遍，或者直接打字。")

    async def file(self, turn: Turn) -> OutboundMessage:
        state = turn.state
        problem = _BY_CODE[str(state.slots["problem"])]
        text = str(state.slots.get("text") or "")
        location = _location_of(state.slots.get("location"))
        if not text or location is None:
            return self.described(turn, text, spoken=False) if text else self.redo(turn)
        phone = state.context.pop("phone", None)
        draft = TicketDraft(
            request_type=problem.request_type,
            category=problem.category,
            description=f"【骑手快速反映·{problem.title}】{text}",
            address=location.label,
            location=location,
            phone=phone if isinstance(phone, str) and phone else None,
        )
        result = await self._tickets.submit(
            turn.message.key, draft, submission_id=action_id(turn, "rider")
        )
        state.end_flow()
        return filed_message(result)

    async def answer(self, turn: Turn, text: str, *, spoken: bool) -> OutboundMessage:
        """Words in the flow: yes or no to the confirmation, else the description."""
        answer = _compact(text)
        if turn.state.awaiting == RIDER_CONFIRM:
            if is_confirmation(answer) or answer in ("对提交", "提交", "对的提交"):
                return await self.file(turn)
            if answer in _NO_WORDS:
                return self.redo(turn)
        return self.described(turn, text, spoken=spoken)


class RiderHandler:
    """The quick buttons, and the rider flow's locations, taps and typed words
    (spoken words come through the voice gate)."""

    name = "rider"

    def __init__(self, flow: RiderFlow) -> None:
        self._flow = flow

    def matches(self, turn: Turn) -> bool:
        if is_rider_payload(turn.payload):
            return True
        if turn.payload is None and turn.message.kind is InboundKind.TEXT and (
            _compact(turn.text) in _RIDER_WORDS
        ):
            return True
        if not RiderFlow.active(turn):
            return False
        message = turn.message
        if message.location is not None:
            return True
        return turn.payload is None and message.kind is InboundKind.TEXT and bool(turn.text)

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        payload = turn.payload
        message = turn.message
        if payload in RIDER_MENU_PAYLOADS or (payload is None and not RiderFlow.active(turn)
                                             and message.location is None):
            return [rider_menu()]
        if payload is not None:
            return await self._pressed(turn, payload.partition(":")[2])
        if message.location is not None:
            automatic = message.kind is InboundKind.EVENT or message.event is EventKind.LOCATION
            if automatic:
                turn.state.context["reported_location"] = {
                    **_kept(message.location), "at": turn.now.isoformat()
                }
            return self._flow.located(turn, message.location, automatic=automatic)
        if is_cancel_text(turn.text):
            turn.state.end_flow()
            return [OutboundMessage.of_text(CANCELLED)]
        return [await self._flow.answer(turn, turn.text, spoken=False)]

    async def _pressed(self, turn: Turn, action: str) -> list[OutboundMessage]:
        if action == "file":
            if not RiderFlow.active(turn):
                return [OutboundMessage.of_text("这一步已经结束了。如需反映新的问题，请直接描述。")]
            return [await self._flow.file(turn)]
        if action == "redo":
            if not RiderFlow.active(turn):
                return [rider_menu()]
            return [self._flow.redo(turn)]
        problem = _BY_CODE.get(action)
        if problem is None:
            return [rider_menu()]
        return [self._flow.start(turn, problem)]
