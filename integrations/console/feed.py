"""What one live stream of the console sends: :class:`LiveFeed`.

``event_stream`` (``live.py``) calls :meth:`LiveFeed.fetch` every round with
its cursor; the feed reads the desk's durable change feed and turns it into
SSE events for one viewer:

- ``entry``: a line of the conversation the stream is for (``?case=``);
- ``case``: a case changed (opened, claimed, transferred, closed);
- ``delivery``: a staff reply shown as 发送中 got further (sent, failed):
  its outbox row changed, which adds no history line, so the feed re-reads
  the replies it watches.

**Look-back.** History ids are given out when a transaction inserts its
line, not when it commits. On PostgreSQL two turns can therefore commit out
of id order: a poll may see id 12 while id 11 is still uncommitted, and a
reader that only asked for ``> 12`` next time would never see 11. Each round
re-reads ``lookback`` ids before the cursor and skips what this stream has
sent already, so a line that commits late (within the look-back) is sent
once, and nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.errors import HandoffNotFound
from bot.types import ConversationKey, HandoffCase, HistoryEntry

from .live import LiveEvent
from .views import case_json, delivery_view, entry_view

__all__ = [
    "LIVE_LOOKBACK",
    "MAX_WATCHED",
    "FeedDesk",
    "LiveFeed",
    "parse_watch",
]

# How many history ids before its cursor a live stream looks at again.
LIVE_LOOKBACK = 50
# How many lines a round reads at most (after the look-back).
_BATCH = 200
# How many staff replies one stream watches for a change of delivery.
MAX_WATCHED = 50
# A reply sent as a subscribe message shows "subscribe" whether it is still
# queued or went out, and only changes if it fails: watched this long.
SUBSCRIBE_WATCH = timedelta(minutes=10)


class FeedDesk(Protocol):
    """The part of ``bot.handoff.HandoffDesk`` a live stream reads."""

    async def changes_since(self, cursor: int, *, limit: int = 200) -> list[HistoryEntry]: ...

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]: ...

    async def get(self, case_id: str) -> HandoffCase: ...


def parse_watch(value: str | None) -> list[int]:
    """``?watch=12,15``: the staff replies a page shows as still on their way."""
    ids: list[int] = []
    for part in (value or "").split(",")[:MAX_WATCHED]:
        part = part.strip()
        if part.isdigit() and len(part) <= 18:
            ids.append(int(part))
    return ids


class LiveFeed:
    """The events of one stream: a conversation's (``key`` and ``case_id``
    given) or the queue's (case changes only)."""

    def __init__(
        self,
        desk: FeedDesk,
        *,
        names: dict[str, str],
        refresh_names: Callable[[], Awaitable[dict[str, str]]],
        visible: Callable[[HandoffCase], bool],
        clock: Callable[[], datetime],
        key: ConversationKey | None = None,
        case_id: str | None = None,
        watch: Iterable[int] = (),
        lookback: int = LIVE_LOOKBACK,
    ) -> None:
        self.desk = desk
        self.names = names
        self.refresh_names = refresh_names
        self.visible = visible
        self.clock = clock
        self.key = key
        self.case_id = case_id
        self.lookback = max(0, lookback)
        self.sent: set[int] = set()
        self.primed = False
        # Staff replies of this conversation on their way: id -> the delivery state
        # the page shows (the page's ?watch= ids show 发送中, or 已改发订阅消息,
        # which is reported once, changing nothing).
        self.watched: dict[int, str | None] = (
            dict.fromkeys(list(watch)[:MAX_WATCHED], "queued") if key is not None else {}
        )

    async def fetch(self, cursor: str) -> tuple[list[LiveEvent], str]:
        position = int(cursor)
        floor = max(0, position - self.lookback)
        if not self.primed:
            # What the page already shows (up to the cursor) counts as sent.
            if self.lookback:
                earlier = await self.desk.changes_since(floor, limit=self.lookback)
                self.sent.update(e.entry_id for e in earlier if e.entry_id <= position)
            self.primed = True
        entries = [
            entry for entry in await self.desk.changes_since(floor, limit=_BATCH + self.lookback)
            if entry.entry_id not in self.sent
        ]
        events: list[LiveEvent] = []
        for entry in entries:
            self.sent.add(entry.entry_id)
            # A line that committed late still leaves the browser's cursor where it was.
            event_id = str(max(entry.entry_id, position))
            if self.key is not None and entry.key == self.key:
                events.append(LiveEvent("entry", await self._entry_view(entry), event_id))
                self._watch(entry, known=entry.delivery)
            if entry.author == "system" and entry.kind == "event" and entry.case_id:
                if self.case_id is not None and entry.case_id != self.case_id:
                    continue
                try:
                    changed = await self.desk.get(entry.case_id)
                except HandoffNotFound:
                    continue
                events.append(LiveEvent(
                    "case",
                    case_json(changed, self.names, visible=self.visible(changed)),
                    event_id,
                ))
        after = max([position, *(entry.entry_id for entry in entries)])
        for stale in [i for i in self.sent if i <= after - self.lookback]:
            self.sent.discard(stale)
        events.extend(await self._deliveries(str(after)))
        return events, str(after)

    async def _entry_view(self, entry: HistoryEntry) -> dict[str, Any]:
        if entry.author.startswith("staff:") and entry.author[6:] not in self.names:
            self.names.update(await self.refresh_names())
        return entry_view(entry, self.names)

    def _pending(self, entry: HistoryEntry) -> bool:
        """A staff reply whose delivery may still change."""
        if not entry.author.startswith("staff:"):
            return False
        if entry.delivery == "queued":
            return True
        return entry.delivery == "subscribe" and self.clock() - entry.at < SUBSCRIBE_WATCH

    def _watch(self, entry: HistoryEntry, *, known: str | None) -> None:
        if self._pending(entry) and len(self.watched) < MAX_WATCHED:
            self.watched[entry.entry_id] = known

    async def _deliveries(self, event_id: str) -> list[LiveEvent]:
        """``delivery`` events for the watched replies whose state changed."""
        if not self.watched:
            return []
        events: list[LiveEvent] = []
        found = {entry.entry_id: entry for entry in await self.desk.entries(list(self.watched))}
        for entry_id, known in list(self.watched.items()):
            entry = found.get(entry_id)
            if entry is None or entry.key != self.key or not entry.author.startswith("staff:"):
                del self.watched[entry_id]  # not a reply of this conversation
                continue
            if entry.delivery != known:
                events.append(LiveEvent("delivery", delivery_view(entry), event_id))
            if self._pending(entry):
                self.watched[entry_id] = entry.delivery
            else:
                del self.watched[entry_id]
        return events
