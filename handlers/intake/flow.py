"""The intake engine: one dialogue for all six request types, driven by their specs.

It asks only for what is missing, accepts photos and locations at any
question, shows a summary the resident can correct in words or with
buttons, and files the ticket once, however often the confirming turn runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.handling import INTENT_PAYLOAD_PREFIX, Turn
from bot.ports import SubmissionState, SubmitResult, Tickets
from bot.types import InboundKind, Location, OutboundMessage
from handlers.formatting import local_time, mask_phone
from handlers.ids import action_id
from handlers.intake.answers import (
    DONE_WORDS,
    SKIP_WORDS,
    UNKNOWN_TIME_WORDS,
    compact,
    fill_from_text,
    is_description,
    read_yes_no,
    take_from_context,
)
from handlers.intake.form import MAX_DESCRIPTION, MAX_PHOTOS, IntakeForm, Slot, photo_ref
from handlers.intake.specs import (
    CONFIRM,
    EDIT,
    INTAKE_FLOW,
    PAYLOAD_PREFIX,
    SPECS,
    TYPE_QUESTION,
    Anonymity,
    question,
    type_question,
)
from handlers.intake.summary import (
    FIELD_LABELS,
    Correction,
    edit_menu,
    is_confirmation,
    is_edit_request,
    read_anonymity,
    read_correction,
    summary,
)
from handlers.parsing import (
    find_phone,
    normalise,
    parse_phone,
    parse_shared_phone,
    tidy,
    without_filler,
)
from handlers.texts import CANCELLED

__all__ = ["IntakeFlow", "filed_message", "optional_question_pending"]

_PHONE_ERROR = (
    "这个号码好像不对。请输入11位手机号（如13812345678）或带区号的固定电话"
    "（如010-12345678）；不想留可以点“不留电话”。\n"
)


def optional_question_pending(state_flow: str | None, awaiting: str | None,
                              slots: dict[str, Any]) -> bool:
    """Whether the pending intake question may be declined (so "不用了"
    answers it rather than cancelling the request)."""
    if state_flow != INTAKE_FLOW or awaiting is None:
        return False
    try:
        slot = Slot(awaiting)
    except ValueError:
        return False
    spec = SPECS.get(IntakeForm(slots).request_type)
    return spec is not None and (spec.is_optional(slot) or slot is Slot.ANONYMOUS)


def filed_message(result: SubmitResult) -> OutboundMessage:
    """What the resident hears after confirming: the number, or that it follows."""
    if result.ticket_id:
        parts = [f"已为您登记，工单编号{result.ticket_id}"]
        if result.department:
            parts.append(f"由{result.department}承办")
        if result.due_at is not None:
            parts.append(f"预计{local_time(result.due_at)}前答复")
        return OutboundMessage.of_text("，".join(parts) + "。办理进展会在这里通知您。")
    if result.record.state is SubmissionState.REJECTED:
        return OutboundMessage.of_text(
            "您的诉求已收到，但工单系统没能自动登记，已转工作人员人工登记，登记后会通知您。"
        )
    return OutboundMessage.of_text("您的诉求已收到，正在登记，工单编号稍后发给您。")


class IntakeFlow:
    """Starts and continues the intake dialogue; shared by the handlers that enter it."""

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    # ------------------------------------------------------------ entering

    def open_report(self, turn: Turn) -> OutboundMessage:
        """"我要反映" from the menu: the next message is read by NLU, which tells the type."""
        turn.state.start_flow(INTAKE_FLOW)
        return OutboundMessage.of_text(
            "请直接描述您要反映的问题：发生了什么、在哪里、什么时候。"
            "也可以发送语音、照片或位置。"
        )

    def start(
        self,
        turn: Turn,
        request_type: str,
        *,
        text: str | None,
        category: str,
        phone: str | None = None,
        prefix: str = "",
    ) -> OutboundMessage:
        state = turn.state
        state.start_flow(INTAKE_FLOW)
        form = IntakeForm.new(state.slots, request_type, category)
        take_from_context(state.context, form)
        if text and is_description(text):
            fill_from_text(form, text)
        elif text:
            found = find_phone(text)
            form.set_text(Slot.PHONE, parse_phone(found) if found else None)
        if phone:
            checked = parse_phone(phone)
            if checked:
                form.set_text(Slot.PHONE, checked)
        return self._next(turn, form, prefix)

    def start_untyped(self, turn: Turn, *, text: str, category: str) -> OutboundMessage:
        """A description whose type NLU could not tell: ask which it is."""
        state = turn.state
        state.start_flow(INTAKE_FLOW, awaiting=TYPE_QUESTION)
        form = IntakeForm.new(state.slots, "", category)
        take_from_context(state.context, form)
        fill_from_text(form, text)
        return type_question("好的，已记下。")

    # ------------------------------------------------------------ continuing

    async def answer(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        form = IntakeForm(state.slots)
        payload = turn.payload or self._numbered(turn, form)
        if payload is not None:
            if payload == f"{INTENT_PAYLOAD_PREFIX}cancel":
                state.end_flow()
                return [OutboundMessage.of_text(CANCELLED)]
            return await self._pressed(turn, form, payload.removeprefix(PAYLOAD_PREFIX))
        message = turn.message
        if message.kind is InboundKind.IMAGE:
            return [self._photo(turn, form)]
        if message.kind is InboundKind.LOCATION and message.location is not None:
            return [self._located(turn, form, message.location)]
        if message.kind is InboundKind.CONTACT:
            return [self._contact(turn, form, turn.text)]
        return await self._typed(turn, form, turn.text)

    def _numbered(self, turn: Turn, form: IntakeForm) -> str | None:
        """A digit answering the current question when the dispatcher no longer
        knew the options (another message came in between)."""
        answer = normalise(turn.text)
        if not (len(answer) == 1 and answer.isdigit()):
            return None
        buttons = self._prompt(turn, form).buttons
        index = int(answer) - 1
        return buttons[index].payload if 0 <= index < len(buttons) else None

    def _prompt(self, turn: Turn, form: IntakeForm, prefix: str = "") -> OutboundMessage:
        """The question currently pending, asked again."""
        awaiting = turn.state.awaiting
        if awaiting == TYPE_QUESTION or form.request_type not in SPECS:
            return type_question(prefix)
        spec = SPECS[form.request_type]
        if awaiting == EDIT:
            return edit_menu(spec)
        if awaiting == CONFIRM:
            return summary(spec, form, prefix)
        try:
            slot = Slot(awaiting or "")
        except ValueError:
            return self._next(turn, form, prefix)
        return question(spec, slot, form, prefix)

    def _next(self, turn: Turn, form: IntakeForm, prefix: str = "") -> OutboundMessage:
        """Ask the first missing thing, or show the summary when nothing is."""
        if form.request_type not in SPECS:
            turn.state.awaiting = TYPE_QUESTION
            return type_question(prefix)
        spec = SPECS[form.request_type]
        slot = spec.missing(form)
        if slot is None:
            turn.state.awaiting = CONFIRM
            return summary(spec, form, prefix)
        turn.state.awaiting = slot.value
        return question(spec, slot, form, prefix)

    async def _pressed(self, turn: Turn, form: IntakeForm, action: str) -> list[OutboundMessage]:
        state = turn.state
        name, _, argument = action.partition(":")
        if form.request_type not in SPECS and name != "type":
            # Nothing but the type can be answered before the type is known.
            state.awaiting = TYPE_QUESTION
            return [type_question()]
        awaiting = state.awaiting
        if name == "confirm":
            spec = SPECS.get(form.request_type)
            if spec is None or spec.missing(form) is not None:
                return [self._next(turn, form)]
            return [await self._submit(turn, form)]
        if name == "edit" and not argument:
            state.awaiting = EDIT
            return [edit_menu(SPECS[form.request_type])]
        if name == "edit":
            return [self._edit(turn, form, argument)]
        if name == "summary":
            return [self._next(turn, form)]
        if name == "type" and argument in SPECS:
            form.request_type = argument
            label = SPECS[argument].label
            return [self._next(turn, form, f"好的，按{label}登记。")]
        if name == "clear_photos":
            form.clear_photos()
            state.awaiting = Slot.PHOTOS.value
            return [question(SPECS[form.request_type], Slot.PHOTOS, form, "已清空照片。")]
        slot = _slot_of(awaiting)
        if slot is None:
            return [self._prompt(turn, form)]
        if name == "skip":
            return [self._skip(turn, form, slot)]
        if name == "unknown" and slot is Slot.WHEN:
            form.set_text(Slot.WHEN, "不清楚")
            return [self._next(turn, form)]
        if name == "done" and slot is Slot.PHOTOS:
            form.mark_asked(Slot.PHOTOS)
            return [self._next(turn, form)]
        if name == "anonymous" and argument in ("yes", "no"):
            form.anonymous = argument == "yes"
            return [self._next(turn, form)]
        return [self._prompt(turn, form)]

    def _edit(self, turn: Turn, form: IntakeForm, field: str) -> OutboundMessage:
        state = turn.state
        if field == "type":
            state.awaiting = TYPE_QUESTION
            return type_question()
        slot = _slot_of(field)
        spec = SPECS[form.request_type]
        if slot is None or slot not in spec.fields():
            state.awaiting = EDIT
            return edit_menu(spec)
        state.awaiting = slot.value
        return question(spec, slot, form)

    def _skip(self, turn: Turn, form: IntakeForm, slot: Slot) -> OutboundMessage:
        spec = SPECS[form.request_type]
        if slot is Slot.ANONYMOUS or spec.is_optional(slot):
            form.skip(slot)
            return self._next(turn, form)
        return question(spec, slot, form, "这一项需要填写，才能派给对应的部门。")

    def _photo(self, turn: Turn, form: IntakeForm) -> OutboundMessage:
        ref = photo_ref(turn.message)
        if ref is None:
            return self._prompt(turn, form, "这张照片没有收到，请重新发送。")
        if not form.add_photo(ref):
            return self._prompt(turn, form, f"最多保留{MAX_PHOTOS}张照片，这张没有保存。")
        if turn.state.awaiting == Slot.PHOTOS.value:
            return question(SPECS[form.request_type], Slot.PHOTOS, form)
        return self._prompt(turn, form, f"照片已收到（共{len(form.photos)}张）。")

    def _located(self, turn: Turn, form: IntakeForm, location: Location) -> OutboundMessage:
        form.set_location(location)
        form.set_text(Slot.ADDRESS, location.label or None)
        place = location.label or f"{location.latitude:.5f}, {location.longitude:.5f}"
        prefix = f"位置已记下：{place}。"
        if turn.state.awaiting in (CONFIRM, EDIT):
            turn.state.awaiting = CONFIRM
            return summary(SPECS[form.request_type], form, prefix)
        if turn.state.awaiting == Slot.ADDRESS.value or turn.state.awaiting == TYPE_QUESTION:
            return self._next(turn, form, prefix)
        return self._prompt(turn, form, prefix)

    def _contact(self, turn: Turn, form: IntakeForm, shared: str) -> OutboundMessage:
        """A phone number shared with a tap: the contact phone, whatever was asked."""
        phone = parse_shared_phone(shared)
        awaiting = turn.state.awaiting
        if phone is None:
            if awaiting == Slot.PHONE.value:
                return question(SPECS[form.request_type], Slot.PHONE, form, _PHONE_ERROR)
            return self._prompt(turn, form, "这个号码好像不对，电话没有记下。\n")
        form.set_text(Slot.PHONE, phone)
        if awaiting in (CONFIRM, EDIT):
            turn.state.awaiting = CONFIRM
            return summary(SPECS[form.request_type], form, f"已修改{FIELD_LABELS[Slot.PHONE]}。\n")
        if awaiting == Slot.PHONE.value or awaiting == TYPE_QUESTION:
            return self._next(turn, form)
        return self._prompt(turn, form, f"联系电话已记下：{mask_phone(phone)}。")

    # ------------------------------------------------------------ typed answers

    async def _typed(self, turn: Turn, form: IntakeForm, text: str) -> list[OutboundMessage]:
        awaiting = turn.state.awaiting
        if not text:
            return [self._prompt(turn, form)]
        if awaiting == TYPE_QUESTION or form.request_type not in SPECS:
            turn.state.awaiting = TYPE_QUESTION
            return [self._typed_type(turn, form, text)]
        if awaiting == CONFIRM:
            return [await self._at_summary(turn, form, text)]
        if awaiting == EDIT:
            return [self._at_edit_menu(turn, form, text)]
        slot = _slot_of(awaiting)
        if slot is None:
            return [self._next(turn, form)]
        return [self._answer_slot(turn, form, slot, text)]

    def _typed_type(self, turn: Turn, form: IntakeForm, text: str) -> OutboundMessage:
        answer = compact(text)
        for name, spec in SPECS.items():
            if spec.label in answer:
                form.request_type = name
                return self._next(turn, form, f"好的，按{spec.label}登记。")
        return type_question("请从下面选一种：")

    def _answer_slot(self, turn: Turn, form: IntakeForm, slot: Slot, text: str) -> OutboundMessage:
        spec = SPECS[form.request_type]
        answer = compact(text)
        if slot is Slot.ANONYMOUS:
            choice = read_yes_no(text)
            if choice is None:
                return question(spec, slot, form, "请选择是否匿名。")
            form.anonymous = choice
            return self._next(turn, form)
        if slot is Slot.PHOTOS:
            if answer in DONE_WORDS or answer in SKIP_WORDS:
                form.mark_asked(Slot.PHOTOS)
                return self._next(turn, form)
            return question(spec, slot, form, "请直接发送照片。")
        if slot is Slot.WHEN and answer in UNKNOWN_TIME_WORDS:
            form.set_text(Slot.WHEN, "不清楚")
            return self._next(turn, form)
        if answer in SKIP_WORDS:
            return self._skip(turn, form, slot)
        if slot is Slot.PHONE:
            phone = parse_phone(text) or find_phone(text)
            if phone is None or parse_phone(phone) is None:
                return question(spec, slot, form, _PHONE_ERROR)
            form.set_text(Slot.PHONE, parse_phone(phone))
            return self._next(turn, form)
        if slot is Slot.DESCRIPTION:
            if len(without_filler(text)) < 2:
                return question(spec, slot, form, "请再具体描述一下。")
            fill_from_text(form, text)
            return self._next(turn, form)
        form.set_text(slot, tidy(text)[:200])
        if slot is Slot.ADDRESS:
            form.set_location(None)
        return self._next(turn, form)

    async def _at_summary(self, turn: Turn, form: IntakeForm, text: str) -> OutboundMessage:
        spec = SPECS[form.request_type]
        if is_confirmation(text):
            return await self._submit(turn, form)
        if is_edit_request(text):
            turn.state.awaiting = EDIT
            return edit_menu(spec)
        anonymous = read_anonymity(text)
        if anonymous is not None and spec.anonymity is not Anonymity.NOT_OFFERED:
            form.anonymous = anonymous
            return summary(spec, form, "已改为匿名。" if anonymous else "已改为不匿名。")
        correction = read_correction(text)
        if correction is None and parse_phone(text):
            correction = Correction(Slot.PHONE, text)
        if correction is not None:
            return self._correct(turn, form, correction)
        if not is_description(text):
            return summary(spec, form, "请点“确认提交”“修改”或“取消”。\n")
        # Anything else typed here is most likely a detail the resident
        # remembered: keep it with the description rather than lose it.
        if not form.add_to_description(tidy(text)):
            return summary(spec, form, "诉求内容已经很长，这段话没有加进去。\n")
        return summary(spec, form, "已把这段话补充到诉求内容中。\n")

    def _at_edit_menu(self, turn: Turn, form: IntakeForm, text: str) -> OutboundMessage:
        correction = read_correction(text)
        if correction is not None:
            return self._correct(turn, form, correction)
        return edit_menu(SPECS[form.request_type])

    def _correct(self, turn: Turn, form: IntakeForm, correction: Correction) -> OutboundMessage:
        spec = SPECS[form.request_type]
        slot = correction.slot
        if slot not in spec.fields() and not (slot is Slot.ADDRESS and form.has(slot)):
            turn.state.awaiting = CONFIRM
            return summary(spec, form, f"{spec.label}不需要填写{FIELD_LABELS[slot]}。\n")
        if correction.value is None:
            turn.state.awaiting = slot.value
            return question(spec, slot, form)
        if slot is Slot.PHONE:
            phone = parse_phone(correction.value) or find_phone(correction.value)
            if phone is None or parse_phone(phone) is None:
                turn.state.awaiting = CONFIRM
                return summary(spec, form, "这个号码好像不对，电话没有修改。\n")
            form.set_text(Slot.PHONE, parse_phone(phone))
        elif slot is Slot.DESCRIPTION:
            form.set_text(Slot.DESCRIPTION, tidy(correction.value)[:MAX_DESCRIPTION])
        else:
            form.set_text(slot, tidy(correction.value)[:200])
            if slot is Slot.ADDRESS:
                form.set_location(None)
        turn.state.awaiting = CONFIRM
        return summary(spec, form, f"已修改{FIELD_LABELS[slot]}。\n")

    # ------------------------------------------------------------ filing

    async def _submit(self, turn: Turn, form: IntakeForm) -> OutboundMessage:
        draft = form.draft()
        result = await self._tickets.submit(
            turn.message.key, draft, submission_id=action_id(turn, "file")
        )
        turn.state.end_flow()
        return filed_message(result)


def _slot_of(name: str | None) -> Slot | None:
    try:
        return Slot(name or "")
    except ValueError:
        return None
