"""HandoffDesk and its store, over memory, SQLite (and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import HandoffConflict, HandoffNotFound, ReplyWindowClosed, WindowClosed
from bot.handoff import HandoffDesk, ServiceHours, handoff_event, parse_handoff_event, turn_lines
from bot.ports import HistoryLine
from bot.types import (
    Channel,
    ConversationKey,
    EventKind,
    HandoffQueue,
    HandoffReason,
    HandoffStatus,
    InboundKind,
    InboundMessage,
    Intent,
    Location,
    OutboundMessage,
)
from integrations.storage import Storage
from tests.contracts.conftest import Backend, FakeClock

KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-1")
OTHER = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-2")
TG = ConversationKey(Channel.TELEGRAM, "minhu_bot", "42")


@dataclass
class FakeEvents:
    fed: list[InboundMessage] = field(default_factory=list)

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object:
        self.fed.append(message)
        return None

    def actions(self) -> list[str]:
        return [event.action for m in self.fed if (event := parse_handoff_event(m))]


def make_desk(storage: Storage, clock: FakeClock, events: FakeEvents | None = None,
              hours: str = "always", idle: float = 30.0) -> HandoffDesk:
    return HandoffDesk(store=storage.handoff, windows=storage.windows,
                       events=events or FakeEvents(), clock=clock,
                       hours=ServiceHours(hours), avg_handle_minutes=4, idle_minutes=idle)


def resident_says(clock: FakeClock, text: str, key: ConversationKey = KEY,
                  message_id: str = "m1") -> InboundMessage:
    return InboundMessage(key, message_id, InboundKind.TEXT, clock.now, text=text)


# -- cases -------------------------------------------------------------------------------


async def test_escalate_opens_one_case_per_conversation(storage: Storage, clock: FakeClock) -> None:
    events = FakeEvents()
    desk = make_desk(storage, clock, events)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="要人工")
    again = await desk.escalate(KEY, reason=HandoffReason.DISTRESS, summary="又来")
    assert again == case and case.status is HandoffStatus.WAITING
    assert case.queue is HandoffQueue.AGENT and not case.after_hours
    assert await desk.open_case(KEY) == case
    assert events.actions() == ["opened"]  # the second call opened nothing
    history = await desk.history(KEY)
    assert [(e.author, e.kind, e.case_id) for e in history] == [("system", "event", case.case_id)]
    assert "居民要求转人工" in history[0].text


async def test_sensitive_matters_go_to_the_supervisors(storage: Storage, clock: FakeClock) -> None:
    desk = make_desk(storage, clock)
    case = await desk.escalate(KEY, reason=HandoffReason.SENSITIVE, summary="举报村干部",
                               queue=HandoffQueue.AGENT)
    assert case.queue is HandoffQueue.SUPERVISOR
    assert await desk.queue(queues=[HandoffQueue.AGENT]) == []
    assert await desk.queue(queues=[HandoffQueue.SUPERVISOR]) == [case]


async def test_queue_is_oldest_first_and_the_wait_grows(storage: Storage, clock: FakeClock) -> None:
    desk = make_desk(storage, clock)
    first = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    clock.advance(seconds=5)
    second = await desk.escalate(OTHER, reason=HandoffReason.ASKED, summary="b")
    assert [c.case_id for c in await desk.queue()] == [first.case_id, second.case_id]
    assert (await desk.outlook(first)).ahead == 0
    outlook = await desk.outlook(second)
    assert outlook.ahead == 1 and outlook.wait_minutes == 8 and not outlook.after_hours
    await desk.claim(first.case_id, "agent1")
    assert [c.case_id for c in await desk.queue(include_active=False)] == [second.case_id]
    assert (await desk.outlook(second)).ahead == 0


async def test_claim_conflicts_and_unknown_cases(storage: Storage, clock: FakeClock) -> None:
    desk = make_desk(storage, clock)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    claimed = await desk.claim(case.case_id, "agent1")
    assert claimed.status is HandoffStatus.ACTIVE and claimed.claimed_by == "agent1"
    assert await desk.claim(case.case_id, "agent1") == claimed  # idempotent
    with pytest.raises(HandoffConflict):
        await desk.claim(case.case_id, "agent2")
    with pytest.raises(HandoffNotFound):
        await desk.get("HO-nope")
    await desk.hand_back(case.case_id, "agent1")
    with pytest.raises(HandoffConflict):
        await desk.claim(case.case_id, "agent1")
    with pytest.raises(HandoffConflict):
        await desk.hand_back(case.case_id, "agent1")


async def test_concurrent_claims_have_one_winner(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    desk_a, desk_b = make_desk(a, clock), make_desk(b, clock)
    case = await desk_a.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    results = await asyncio.gather(desk_a.claim(case.case_id, "agent1"),
                                   desk_b.claim(case.case_id, "agent2"),
                                   return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, HandoffConflict) for r in results if isinstance(r, BaseException))


async def test_transfer_and_escalate_to_supervisor(storage: Storage, clock: FakeClock) -> None:
    desk = make_desk(storage, clock)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    await desk.claim(case.case_id, "agent1")
    moved = await desk.transfer(case.case_id, "agent1", to_staff="agent2")
    assert moved.claimed_by == "agent2" and moved.status is HandoffStatus.ACTIVE
    up = await desk.escalate_to_supervisor(case.case_id, "agent2")
    assert up.queue is HandoffQueue.SUPERVISOR and up.claimed_by is None
    assert up.status is HandoffStatus.WAITING
    log = await desk.audit_log(case_id=case.case_id)
    assert [(e.staff, e.action) for e in log] == [
        ("agent2", "escalate"), ("agent1", "transfer"), ("agent1", "claim")]


# -- replies and the reply window ---------------------------------------------------------


async def test_a_reply_is_queued_in_the_outbox_and_audited(
    storage: Storage, clock: FakeClock
) -> None:
    desk = make_desk(storage, clock)
    await storage.windows.open(resident_says(clock, "在吗"))
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    entry = await desk.reply(case.case_id, "agent1", "  您好，我是坐席小王  ")
    assert entry.author == "staff:agent1" and entry.text == "您好，我是坐席小王"
    assert entry.delivery == "queued" and entry.case_id == case.case_id
    assert (await desk.get(case.case_id)).claimed_by == "agent1"  # replying claims it
    due = await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10)
    assert [d.message.text for d in due] == ["【人工客服】您好，我是坐席小王"]
    assert [e.delivery for e in await desk.entries([entry.entry_id])] == ["queued"]
    await storage.outbox.mark_sent(due[0].delivery_id, via="custom")
    assert (await desk.history(KEY))[-1].delivery == "sent"
    # Read again by id (the console's watch on a reply): unknown ids are left out.
    again = await desk.entries([entry.entry_id + 1000, entry.entry_id, entry.entry_id])
    assert again == [replace(entry, delivery="sent")]
    assert (await desk.audit_log(limit=1))[0].detail == "您好，我是坐席小王"
    with pytest.raises(HandoffConflict):
        await desk.reply(case.case_id, "agent2", "我也来")


async def test_closed_window_raises_and_the_subscribe_fallback_is_queued(
    storage: Storage, clock: FakeClock
) -> None:
    desk = make_desk(storage, clock)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    info = await desk.window(KEY)
    assert not info.open
    with pytest.raises(ReplyWindowClosed) as caught:
        await desk.reply(case.case_id, "agent1", "您好")
    assert isinstance(caught.value, WindowClosed)
    entry = await desk.reply_by_subscribe(case.case_id, "agent1", "您好，请回复我们")
    assert entry.delivery == "subscribe"
    # Inside the window: open, with the pushes left.
    await storage.windows.open(resident_says(clock, "在"))
    info = await desk.window(KEY)
    assert info.open and info.remaining == 5 and info.closes_at == clock.now + timedelta(hours=48)
    # Five pushes used: closed again.
    for _ in range(5):
        assert await storage.windows.reserve(KEY, clock.now)
    assert not (await desk.window(KEY)).open


async def test_channels_without_a_window_are_always_open(
    storage: Storage, clock: FakeClock
) -> None:
    desk = make_desk(storage, clock)
    assert (await desk.window(TG)).open
    case = await desk.escalate(TG, reason=HandoffReason.ASKED, summary="a")
    assert (await desk.reply(case.case_id, "agent1", "您好")).delivery == "queued"


# -- handing back ---------------------------------------------------------------------------


async def test_hand_back_and_idle_return_feed_events(storage: Storage, clock: FakeClock) -> None:
    events = FakeEvents()
    desk = make_desk(storage, clock, events, idle=10)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    closed = await desk.hand_back(case.case_id, "agent1", note="已解答")
    assert closed.status is HandoffStatus.CLOSED and closed.closed_by == "agent1"
    assert await desk.open_case(KEY) is None
    assert events.actions() == ["opened", "closed"]
    assert "已解答" in (await desk.history(KEY))[-1].text

    idle = await desk.escalate(OTHER, reason=HandoffReason.ASKED, summary="b")
    clock.advance(minutes=5)
    assert await desk.hold(idle.case_id, resident_says(clock, "还在吗", key=OTHER))
    clock.advance(minutes=9)
    assert await desk.close_idle() == 0  # the resident spoke 9 minutes ago
    clock.advance(minutes=2)
    assert await desk.close_idle() == 1
    assert (await desk.get(idle.case_id)).closed_by == "idle"
    assert events.actions()[-1] == "idle"
    assert not await desk.hold(idle.case_id, resident_says(clock, "喂", key=OTHER))


# -- history, the change feed, durability -----------------------------------------------------


async def test_change_feed_is_durable_across_replicas(backend: Backend, clock: FakeClock) -> None:
    bot_side = backend.replica()
    desk = make_desk(bot_side, clock)
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    start = (await desk.changes_since(0))[-1].entry_id
    await bot_side.handoff.append([
        HistoryLine(KEY, clock.now, "resident", "text", f"消息{i}", case_id=case.case_id,
                    source=f"in:test:{i}") for i in range(3)
    ])
    # A repeat of the same line is kept once.
    await bot_side.handoff.append([
        HistoryLine(KEY, clock.now, "resident", "text", "消息0", source="in:test:0")])
    # The console restarts: a fresh replica reads everything since its cursor.
    console = make_desk(backend.replica(), clock)
    changes = await console.changes_since(start)
    assert [e.text for e in changes] == ["消息0", "消息1", "消息2"]
    assert await console.changes_since(changes[-1].entry_id) == []
    cases, cursor = await console.case_changes_since(0)
    assert [c.case_id for c in cases] == [case.case_id] and cursor == changes[-1].entry_id
    page = await console.history(KEY, limit=2)
    assert [e.text for e in page] == ["消息1", "消息2"]
    earlier = await console.history(KEY, limit=10, before=page[0].entry_id)
    assert [e.text for e in earlier][-1] == "消息0"


def test_turn_lines_describe_every_kind_of_message() -> None:
    at = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    voice = InboundMessage(KEY, "v1", InboundKind.VOICE, at, text="楼上漏水", media_id="m")
    lines = turn_lines(voice, Intent("seek_help", 0.9, category="城乡建设"),
                       [OutboundMessage.of_text("收到")], case_id=None, at=at)
    assert [(line.author, line.kind, line.text, line.intent, line.category) for line in lines] == [
        ("resident", "voice", "楼上漏水", "seek_help", "城乡建设"),
        ("bot", "text", "收到", None, None),
    ]
    photo = InboundMessage(KEY, "p1", InboundKind.IMAGE, at, media_url="https://x/p.jpg")
    place = InboundMessage(KEY, "l1", InboundKind.LOCATION, at,
                           location=Location(39.9, 116.4, "和平路12号"))
    script = InboundMessage(KEY, "s1", InboundKind.TEXT, at, text="<script>alert(1)</script>")
    kinds = [turn_lines(m, None, (), case_id="HO1", at=at)[0] for m in (photo, place, script)]
    assert [(line.kind, line.text) for line in kinds] == [
        ("image", "[图片]"), ("location", "和平路12号（39.90000,116.40000）"),
        ("text", "<script>alert(1)</script>"),  # stored as plain text; the console escapes it
    ]
    assert kinds[0].media_url == "https://x/p.jpg" and kinds[0].case_id == "HO1"
    event = handoff_event(KEY, "closed", "HO1", at)
    assert event.event is EventKind.HANDOFF
    assert turn_lines(event, None, [OutboundMessage.of_text("人工服务已结束")], case_id="HO1",
                      at=at)[0].author == "bot"


# -- service hours ------------------------------------------------------------------------------


def test_service_hours() -> None:
    hours = ServiceHours("mon-fri 09:00-18:00; sat 09:00-12:00")
    friday_evening = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)  # 18:30 in Beijing
    assert not hours.is_open(friday_evening)
    back = hours.next_open(friday_evening)
    assert back.isoformat() == "2026-12-05T09:00:00+08:00"
    assert hours.words(back) == "12月5日（周六）09:00"
    assert hours.is_open(datetime(2026, 12, 4, 2, 0, tzinfo=UTC))  # Friday 10:00
    assert hours.describe() == "周一至周五 09:00-18:00；周六 09:00-12:00"
    saturday_noon = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    assert hours.next_open(saturday_noon).isoformat() == "2026-12-07T09:00:00+08:00"
    assert ServiceHours("always").is_open(friday_evening)
    assert ServiceHours("fri-mon 08:00-09:00").describe() == "周一、周五、周六、周日 08:00-09:00"
    for bad in ("mon-fri", "xyz 09:00-18:00", "mon 18:00-09:00", "mon 25:00-26:00"):
        with pytest.raises(ValueError):
            ServiceHours(bad)


async def test_outside_hours_a_case_is_marked_and_the_return_is_told(
    storage: Storage, clock: FakeClock
) -> None:
    # The contract clock is Saturday 2024-06-01 16:30 in Beijing.
    desk = make_desk(storage, clock, hours="mon-fri 09:00-18:00")
    case = await desk.escalate(KEY, reason=HandoffReason.ASKED, summary="a")
    assert case.after_hours
    outlook = await desk.outlook(case)
    assert outlook.after_hours and outlook.back_text == "6月3日（周一）09:00"
    assert outlook.hours == "周一至周五 09:00-18:00"
