"""Status pushes to the mini-program: the structured change, the sender's rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ChannelAPIError, DeliveryError, PermanentDeliveryError
from bot.types import Channel, ConversationKey, OutboundMessage, StatusChange, TicketStatus
from integrations.miniprogram.sender import (
    MiniProgramSender,
    StatusTemplate,
    parse_template_keys,
    template_data,
)
from integrations.miniprogram.store import MiniProgramStore
from integrations.storage import build_storage
from integrations.storage.codec import outbound_from_json, outbound_to_json
from tests.handlers.test_progress import filed_ticket, lamp_chat
from tests.support import database

APP = "wxtestapp"
KEY = ConversationKey(Channel.MINIPROGRAM, APP, "oUser000000000000000000000001")
TEMPLATE = StatusTemplate(
    template_id="TPL1", keys=parse_template_keys("character_string1,phrase2,thing3,time4"),
    page="pages/requests/detail",
)
AT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def change(status: TicketStatus = TicketStatus.DISPATCHED, **fields: Any) -> StatusChange:
    values: dict[str, Any] = {"ticket_id": "MH202611240001", "status": status, "at": AT,
                              "department": "区住房和城乡建设委员会", **fields}
    return StatusChange(**values)


def push(update: StatusChange | None = None) -> OutboundMessage:
    return replace(OutboundMessage.of_text("您的诉求已派单"), ticket_update=update or change())


async def test_the_progress_push_carries_the_change() -> None:
    chat = lamp_chat()
    ticket_id = await filed_ticket(chat)
    _, moved = chat.tickets.advance(ticket_id, TicketStatus.IN_PROGRESS, note="已安排人员")
    (pushed,) = await chat.progress(moved)
    assert pushed.ticket_update == moved
    _, finished = chat.tickets.advance(ticket_id, TicketStatus.FINISHED, note="已修好")
    (asked,) = await chat.progress(finished)
    assert asked.ticket_update == finished and asked.buttons  # the rating question


def test_the_change_survives_the_outbox_and_old_rows_still_read() -> None:
    message = push(change(note="请尽快核查", previous=TicketStatus.ACCEPTED, adopted=None))
    assert outbound_from_json(outbound_to_json(message)) == message
    old_row = {"kind": "text", "text": "旧消息", "buttons": [], "image_url": None,
               "image_media_id": None}
    assert outbound_from_json(old_row) == OutboundMessage.of_text("旧消息")


def test_template_values_keep_within_wechats_limits() -> None:
    long_note = "维修人员已经到场查看，需要更换整条线路，预计三天内完成施工并恢复照明"
    data = template_data(TEMPLATE, change(TicketStatus.FINISHED, note=long_note))
    assert data["character_string1"] == {"value": "MH202611240001"}
    assert data["phrase2"] == {"value": "已办结"}
    assert len(data["thing3"]["value"]) == 20 and data["thing3"]["value"].endswith("…")
    assert data["time4"] == {"value": "2026年11月24日 18:30"}
    dispatched = template_data(TEMPLATE, change())
    assert dispatched["thing3"]["value"] == "承办部门：区住房和城乡建设委员会"
    for status in TicketStatus:
        value = template_data(TEMPLATE, change(status))["phrase2"]["value"]
        assert 1 <= len(value) <= 5 and all("\u4e00" <= ch <= "\u9fff" for ch in value)
    with pytest.raises(ValueError, match="4 comma-separated"):
        parse_template_keys("thing1,time2")
    with pytest.raises(ValueError, match="unknown"):
        parse_template_keys("thing1,phrase2,bogus3,time4")
    assert set(parse_template_keys("character_string1,,,time4")) == {"ticket", "time"}


@dataclass
class FakeApi:
    """Stands in for MiniProgramAPI.send_subscribe, failing as told."""

    fail_with: list[Exception] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send_subscribe(self, openid: str, template_id: str, data: Mapping[str, Any], *,
                             page: str | None, state: str) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append({"openid": openid, "template_id": template_id, "data": dict(data),
                          "page": page, "state": state})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MiniProgramStore]:
    async with database(tmp_path) as (url, search_path):
        storage = build_storage(url, search_path=search_path)
        await storage.migrate()
        assert storage.database is not None
        try:
            yield MiniProgramStore(storage.database, app_id=APP)
        finally:
            await storage.close()


def sender(store: MiniProgramStore, api: FakeApi,
           template: StatusTemplate | None = TEMPLATE) -> MiniProgramSender:
    return MiniProgramSender(store, api, template=template)  # type: ignore[arg-type]


async def test_with_a_consent_the_change_goes_out_once(store: MiniProgramStore) -> None:
    api = FakeApi()
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    assert await sender(store, api).send(KEY, push()) == "subscribe"
    assert api.sent[0]["page"] == "pages/requests/detail?id=MH202611240001"
    assert (await store.consents(KEY.user))[0].remaining == 0
    # The outbox retrying the same delivery: stored once, not sent again.
    assert await sender(store, api).send(KEY, push()) == "subscribe"
    assert len(api.sent) == 1
    assert len(await store.inbox(KEY)) == 1
    # Without a consent: it waits in the inbox.
    later = push(change(TicketStatus.IN_PROGRESS))
    assert await sender(store, api).send(KEY, later) == "inbox"
    assert len(api.sent) == 1
    entries = await store.inbox(KEY)
    assert [e.via for e in entries] == ["subscribe", "inbox"]
    assert [e.ticket_id for e in entries] == ["MH202611240001"] * 2


async def test_plain_messages_and_no_template_go_to_the_inbox(store: MiniProgramStore) -> None:
    api = FakeApi()
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    assert await sender(store, api, None).send(KEY, push()) == "inbox"
    assert await sender(store, api).send(KEY, OutboundMessage.of_text("你好")) == "inbox"
    assert api.sent == [] and (await store.consents(KEY.user))[0].remaining == 1
    with pytest.raises(PermanentDeliveryError):
        other = ConversationKey(Channel.MINIPROGRAM, "wxother", KEY.user)
        await sender(store, api).send(other, push())


async def test_a_refusal_drops_the_consent(store: MiniProgramStore) -> None:
    api = FakeApi([ChannelAPIError("refused", code=43101)])
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    assert await sender(store, api).send(KEY, push()) == "inbox"
    (consent,) = await store.consents(KEY.user)
    assert (consent.choice, consent.remaining) == ("reject", 0)


async def test_a_failed_send_keeps_the_consent_and_is_retried(store: MiniProgramStore) -> None:
    api = FakeApi([DeliveryError("timeout"), ChannelAPIError("busy", code=45009)])
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    for _ in range(2):
        with pytest.raises(DeliveryError):
            await sender(store, api).send(KEY, push())
        assert (await store.consents(KEY.user))[0].remaining == 1
    assert await sender(store, api).send(KEY, push()) == "subscribe"
    assert len(api.sent) == 1 and len(await store.inbox(KEY)) == 1
    # Refused for good (bad data): the message stays in the inbox, the consent too.
    api.fail_with.append(ChannelAPIError("argument invalid", code=47003))
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    assert await sender(store, api).send(KEY, push(change(TicketStatus.CLOSED))) == "inbox"
    assert (await store.consents(KEY.user))[0].remaining == 1


async def test_long_term_consent_is_not_used_up(store: MiniProgramStore) -> None:
    api = FakeApi()
    await store.record_consents(KEY.user, {"TPL1": "accept"})
    long_term = replace(TEMPLATE, long_term=True)
    for status in (TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS, TicketStatus.FINISHED):
        assert await sender(store, api, long_term).send(KEY, push(change(status))) == "subscribe"
    assert len(api.sent) == 3 and (await store.consents(KEY.user))[0].remaining == 1
