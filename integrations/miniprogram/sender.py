"""Pushes to mini-program users: the in-app inbox always, subscribe messages with consent.

Every message the outbox hands over is stored in the user's inbox, which
the mini-program fetches (``GET /mp/v1/chat/messages``), so nothing is lost.
A ticket's progress push (``OutboundMessage.ticket_update``) also goes out
as a subscribe message (``subscribeMessage.send``) when the user has a
consent on record for the status template, using one one-time consent up.
Without one, the change waits in the inbox and in the ticket's timeline
until the user next opens the mini-program.

A retried delivery of the same progress push is stored once (its inbox
row is keyed by the status change), and is not sent as a subscribe message
again once it was.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.errors import ChannelAPIError, DeliveryError, PermanentDeliveryError
from bot.logs import mask_identifier
from bot.types import Channel, ConversationKey, OutboundMessage, StatusChange, TicketStatus
from integrations.miniprogram.store import MiniProgramStore
from integrations.miniprogram.wxapi import USER_REFUSED_ERRCODE, MiniProgramAPI
from integrations.storage.codec import utc_now
from integrations.wechat.api import as_delivery_error

__all__ = [
    "FIELD_LIMITS",
    "MiniProgramSender",
    "StatusTemplate",
    "parse_template_keys",
    "status_summary",
    "template_data",
]

log = logging.getLogger("minhu.miniprogram.sender")

# WeChat's limits on subscribe-message values, by the type prefix of the
# template's field key (characters).
FIELD_LIMITS: dict[str, int] = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
}
_TIME_TYPES = ("time", "date")
# subscribeMessage.send errors that retrying cannot mend: bad openid, template
# or page, data out of the template's limits (the message stays in the inbox).
SUBSCRIBE_REFUSED_CODES = frozenset({40003, 40037, 41030, 47001, 47003})
_KEY = re.compile(r"^(?P<type>[a-z_]+?)(?P<n>\d+)$")
# What the template's four fields say, in the order of the setting's keys.
ROLES = ("ticket", "status", "summary", "time")
_BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def parse_template_keys(value: str) -> dict[str, str]:
    """``"character_string1,phrase2,thing3,time4"`` → {role: key}; an empty
    entry leaves that role out. Raises ``ValueError`` for an unknown type."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != len(ROLES):
        raise ValueError(
            "MINHU_MINIPROGRAM_STATUS_TEMPLATE_KEYS needs 4 comma-separated keys "
            "(ticket number, status, summary, time), e.g. character_string1,phrase2,thing3,time4"
        )
    keys: dict[str, str] = {}
    for role, key in zip(ROLES, parts, strict=True):
        if not key:
            continue
        match = _KEY.match(key)
        if match is None or (
            match.group("type") not in FIELD_LIMITS and match.group("type") not in _TIME_TYPES
        ):
            raise ValueError(f"unknown subscribe-message field key {key!r}")
        keys[role] = key
    return keys


@dataclass(frozen=True, slots=True)
class StatusTemplate:
    """The subscribe-message template status changes go out with."""

    template_id: str
    keys: dict[str, str]
    page: str
    state: str = "formal"
    long_term: bool = False

    def page_for(self, ticket_id: str) -> str:
        if not self.page:
            return ""
        separator = "&" if "?" in self.page else "?"
        return f"{self.page}{separator}id={ticket_id}"


def status_summary(change: StatusChange) -> str:
    """A few words on what the change means for the resident."""
    note = " ".join((change.note or "").split())
    status = change.status
    if status is TicketStatus.RETURNED:
        return "正在重新安排承办部门"
    if status in (TicketStatus.DISPATCHED, TicketStatus.REASSIGNED) and change.department:
        return f"承办部门：{change.department}"
    if status is TicketStatus.FINISHED:
        return note or "已办结，欢迎评价"
    if status is TicketStatus.ACCEPTED:
        return "诉求已登记，等待派单"
    if change.adopted is not None:
        return "建议已被采纳" if change.adopted else "建议暂未被采纳"
    return note or "点击查看办理进展"


def _fit(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _field(key: str, value: str | datetime) -> dict[str, str]:
    match = _KEY.match(key)
    kind = match.group("type") if match else "thing"
    if isinstance(value, datetime):
        local = value.astimezone(_BEIJING)
        text = f"{local.year}年{local.month}月{local.day}日"
        if kind == "time":
            text += f" {local:%H:%M}"
        return {"value": text}
    if kind == "phrase":
        # Only Chinese characters, at most five.
        value = "".join(ch for ch in value if "\u4e00" <= ch <= "\u9fff") or "有更新"
    elif kind == "character_string":
        value = re.sub(r"[^0-9A-Za-z_\-.:/]", "", value) or "-"
    return {"value": _fit(value, FIELD_LIMITS.get(kind, 20))}


def template_data(template: StatusTemplate, change: StatusChange) -> dict[str, dict[str, str]]:
    values: dict[str, str | datetime] = {
        "ticket": change.ticket_id,
        "status": change.status.value,
        "summary": status_summary(change),
        "time": change.at,
    }
    return {key: _field(key, values[role]) for role, key in template.keys.items()}


def _dedupe(key: ConversationKey, change: StatusChange) -> str:
    seed = f"{key.as_str()}|{change.ticket_id}|{change.status.value}|{change.at.isoformat()}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


class MiniProgramSender:
    """``bot.ports.ChannelSender`` for the mini-program."""

    channel = Channel.MINIPROGRAM

    def __init__(
        self,
        store: MiniProgramStore,
        api: MiniProgramAPI,
        *,
        template: StatusTemplate | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._api = api
        self._template = template
        self._clock = clock

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        if key.account != self._store.app_id:
            raise PermanentDeliveryError("a message for another mini-program")
        change = message.ticket_update
        entry = await self._store.put(
            key, message, dedupe=_dedupe(key, change) if change is not None else None
        )
        template = self._template
        if change is None or template is None or entry.via == "subscribe":
            return entry.via
        if not await self._store.take_consent(
            key.user, template.template_id, keep=template.long_term
        ):
            log.info("no subscribe consent on record; the change waits in the inbox",
                     extra={"openid": mask_identifier(key.user), "ticket": change.ticket_id})
            return "inbox"
        try:
            await self._api.send_subscribe(
                key.user, template.template_id, template_data(template, change),
                page=template.page_for(change.ticket_id), state=template.state,
            )
        except ChannelAPIError as exc:
            if exc.code == USER_REFUSED_ERRCODE:
                log.info("WeChat says the user refused the template; consent dropped",
                         extra={"openid": mask_identifier(key.user)})
                await self._store.drop_consent(key.user, template.template_id)
                await self._store.mark(entry.cursor, via="inbox", error=str(exc))
                return "inbox"
            failure = (
                PermanentDeliveryError(str(exc)) if exc.code in SUBSCRIBE_REFUSED_CODES
                else as_delivery_error(exc)
            )
            return await self._failed(key, entry.cursor, failure)
        except DeliveryError as exc:
            return await self._failed(key, entry.cursor, exc)
        await self._store.mark(entry.cursor, via="subscribe")
        return "subscribe"

    async def _failed(self, key: ConversationKey, cursor: int, exc: DeliveryError) -> str:
        template = self._template
        assert template is not None
        if not template.long_term:
            await self._store.give_back_consent(key.user, template.template_id)
        if isinstance(exc, PermanentDeliveryError):
            # The message is in the inbox; the subscribe message can never go.
            log.warning("subscribe message refused: %s", exc,
                        extra={"openid": mask_identifier(key.user)})
            await self._store.mark(cursor, via="inbox", error=str(exc))
            return "inbox"
        # Stored already (once); the outbox retries the subscribe message later.
        raise DeliveryError(str(exc)) from exc
