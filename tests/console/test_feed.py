"""LiveFeed, what one live stream sends, against a stub desk whose change feed
we control: the look-back (a line that commits after a later id was read is
still sent, once) and the watch on staff replies' delivery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import HandoffNotFound
from bot.types import Channel, ConversationKey, HandoffCase, HistoryEntry
from integrations.console.feed import LIVE_LOOKBACK, MAX_WATCHED, LiveFeed, parse_watch
from integrations.console.live import ChangeSignal, LiveEvent, event_stream

KEY = ConversationKey(Channel.TELEGRAM, "minhu_bot", "42")
OTHER = ConversationKey(Channel.TELEGRAM, "minhu_bot", "43")
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def line(entry_id: int, *, key: ConversationKey = KEY, author: str = "resident",
         delivery: str | None = None, at: datetime = NOW) -> HistoryEntry:
    return HistoryEntry(entry_id=entry_id, key=key, at=at, author=author, kind="text",
                        text=f"第{entry_id}条", delivery=delivery, case_id="HO1")


@dataclass
class StubDesk:
    """History lines as a reader sees them: only ``committed`` ones exist yet."""

    committed: dict[int, HistoryEntry] = field(default_factory=dict)

    def commit(self, *entries: HistoryEntry) -> None:
        for entry in entries:
            self.committed[entry.entry_id] = entry

    async def changes_since(self, cursor: int, *, limit: int = 200) -> list[HistoryEntry]:
        return [self.committed[i] for i in sorted(self.committed) if i > cursor][:limit]

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]:
        return [self.committed[i] for i in sorted(set(ids)) if i in self.committed]

    async def get(self, case_id: str) -> HandoffCase:
        raise HandoffNotFound(case_id)


def feed_for(desk: StubDesk, *, lookback: int = LIVE_LOOKBACK, watch: Sequence[int] = (),
             key: ConversationKey | None = KEY) -> LiveFeed:
    async def names() -> dict[str, str]:
        return {"agent1": "坐席小王"}

    return LiveFeed(desk, names={}, refresh_names=names, visible=lambda _: True,
                    clock=lambda: NOW, key=key, case_id="HO1" if key else None,
                    watch=watch, lookback=lookback)


def entry_ids(events: Sequence[LiveEvent]) -> list[int]:
    return [e.data["entry_id"] for e in events if e.event == "entry"]


# -- the look-back ----------------------------------------------------------------------


async def test_a_line_that_commits_below_the_cursor_is_sent_once() -> None:
    # Ids 1..4 were given out; 3's transaction has not committed yet (PostgreSQL
    # numbers a line when it is inserted, not when it commits).
    desk = StubDesk()
    desk.commit(line(1), line(2), line(4))
    feed = feed_for(desk)

    # The page shows 1 and 2 (its cursor); the stream sends 4.
    events, cursor = await feed.fetch("2")
    assert entry_ids(events) == [4] and cursor == "4"

    # 3 commits now, 5 arrives: both are sent, nothing again.
    desk.commit(line(3), line(5))
    events, cursor = await feed.fetch(cursor)
    assert entry_ids(events) == [3, 5] and cursor == "5"
    # The late line does not move the browser's cursor back (its SSE id).
    assert [e.cursor for e in events] == ["4", "5"]

    for _ in range(3):  # later rounds read the same lines again and skip them
        events, cursor = await feed.fetch(cursor)
        assert events == [] and cursor == "5"


async def test_without_the_look_back_the_late_line_would_be_lost() -> None:
    """What the look-back is for: the same history, read without it."""
    desk = StubDesk()
    desk.commit(line(1), line(2), line(4))
    feed = feed_for(desk, lookback=0)
    events, cursor = await feed.fetch("2")
    desk.commit(line(3), line(5))
    later, cursor = await feed.fetch(cursor)
    assert entry_ids(events) + entry_ids(later) == [4, 5]  # 3 never reaches the console


async def test_what_the_page_shows_is_not_sent_again() -> None:
    desk = StubDesk()
    desk.commit(*(line(i) for i in range(1, 8)))
    # A page (or a reconnecting browser) at cursor 7 has 1..7 already.
    events, cursor = await feed_for(desk).fetch("7")
    assert events == [] and cursor == "7"
    # Only lines within the look-back are read again.
    desk.commit(line(8))
    events, _ = await feed_for(desk, lookback=3).fetch("7")
    assert entry_ids(events) == [8]


async def test_a_line_later_than_the_look_back_is_given_up() -> None:
    """The window is bounded: a line committing more than LIVE_LOOKBACK ids late is
    not sent live (the page shows it at its next load)."""
    desk = StubDesk()
    desk.commit(line(1))
    feed = feed_for(desk, lookback=5)
    desk.commit(*(line(i) for i in range(3, 20)))
    events, cursor = await feed.fetch("1")
    assert entry_ids(events) == list(range(3, 20))
    desk.commit(line(2))
    events, _ = await feed.fetch(cursor)
    assert events == []


async def test_the_stream_delivers_a_late_commit_exactly_once() -> None:
    """Through event_stream, polling: line 3 commits while the stream runs,
    after line 4 was sent; every line reaches the browser once."""
    desk = StubDesk()
    desk.commit(line(1), line(2), line(4))
    feed = feed_for(desk)
    calls = 0

    async def fetch(cursor: str) -> tuple[list[LiveEvent], str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            desk.commit(line(3))
        if calls == 5:
            desk.commit(line(5))
        return await feed.fetch(cursor)

    chunks = [chunk async for chunk in event_stream(
        fetch, "2", signal=ChangeSignal(), poll_seconds=0.01, heartbeat_seconds=10,
        lifetime_seconds=0.3,
    )]
    assert calls > 5
    sent = [json.loads(block.split("data: ", 1)[1])["entry_id"]
            for block in b"".join(chunks).decode().split("\n\n")
            if "event: entry" in block]
    assert sent == [4, 3, 5]


# -- delivery of staff replies -------------------------------------------------------------


async def test_a_watched_reply_reports_its_delivery_when_it_changes() -> None:
    desk = StubDesk()
    reply = line(3, author="staff:agent1", delivery="queued")
    desk.commit(line(1), line(2), reply)
    feed = feed_for(desk, watch=[3])

    events, cursor = await feed.fetch("3")
    assert events == []  # still 发送中, as the page shows it
    desk.commit(replace(reply, delivery="sent"))
    events, cursor = await feed.fetch(cursor)
    assert [(e.event, e.data, e.cursor) for e in events] == [(
        "delivery",
        {"entry_id": 3, "case_id": "HO1", "delivery": "sent", "delivery_label": "已送达渠道"},
        "3",
    )]
    assert feed.watched == {}  # settled: not read again
    events, _ = await feed.fetch(cursor)
    assert events == []


async def test_a_reply_that_arrives_live_is_watched_too() -> None:
    desk = StubDesk()
    desk.commit(line(1))
    feed = feed_for(desk)
    desk.commit(line(2, author="staff:agent1", delivery="queued"))
    events, cursor = await feed.fetch("1")
    assert [(e.event, e.data["delivery"]) for e in events] == [("entry", "queued")]
    assert events[0].data["delivery_label"] == "发送中"
    desk.commit(line(2, author="staff:agent1", delivery="failed"))
    events, _ = await feed.fetch(cursor)
    assert [(e.event, e.data["delivery_label"]) for e in events] == [("delivery", "发送失败")]


async def test_the_watch_covers_this_conversations_replies_only() -> None:
    desk = StubDesk()
    desk.commit(
        line(1, key=OTHER, author="staff:agent2", delivery="sent"),   # someone else's
        line(2, delivery="sent"),                                       # not a staff reply
        line(3, author="staff:agent1", delivery="sent"),
    )
    feed = feed_for(desk, watch=[1, 2, 3, 99])
    events, _ = await feed.fetch("3")
    assert [(e.event, e.data["entry_id"]) for e in events] == [("delivery", 3)]
    assert feed.watched == {}
    # The queue's stream (no conversation) watches nothing.
    assert feed_for(desk, key=None, watch=[3]).watched == {}


async def test_a_subscribe_reply_is_watched_for_a_while() -> None:
    desk = StubDesk()
    young = line(2, author="staff:agent1", delivery="subscribe", at=NOW - timedelta(minutes=1))
    old = line(3, author="staff:agent1", delivery="subscribe", at=NOW - timedelta(hours=1))
    desk.commit(line(1), young, old)
    feed = feed_for(desk, watch=[2, 3])
    events, _ = await feed.fetch("3")
    # Reported once (the page showed 已改发订阅消息 already: nothing changes there).
    assert sorted(e.data["entry_id"] for e in events) == [2, 3]
    assert list(feed.watched) == [2]  # only the young one may still fail


@pytest.mark.parametrize(("value", "ids"), [
    (None, []), ("", []), ("12,15", [12, 15]), (" 7 , x, -1,3", [7, 3]),
    (",".join(["1"] * 80), [1] * MAX_WATCHED), ("9" * 40, []),
])
def test_parse_watch(value: str | None, ids: list[int]) -> None:
    assert parse_watch(value) == ids
