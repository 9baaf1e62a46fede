"""Staff handoff: a person takes over a conversation while the resident stays
in their own channel.

::

    handler ──escalate()──► case (waiting) ─claim()─► active ─hand_back()/idle─► closed
                               │                         │
       "opened" HANDOFF event ─┘ (context["handoff"])    └ reply(): outbox → resident

- **The gate.** While ``state.context["handoff"]`` names an open case the
  dispatcher gives no bot reply (:meth:`HandoffDesk.hold`); the message is
  still journaled and, like every turn, recorded as history lines committed
  with the turn (:func:`turn_lines`). Ticket pushes go on as usual.
- **State changes are turns.** Opening and ending a case feed a ``HANDOFF``
  event through the ingest pipeline (journaled, deduplicated, recovered after
  a crash), so the conversation state is only ever changed inside a turn and
  the resident's notice goes out through the outbox.
- **Durable feed.** The console reads :meth:`HandoffDesk.history` and
  :meth:`HandoffDesk.changes_since` from the database; :meth:`wait_for_change`
  only wakes it sooner in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.errors import (
    HandoffConflict,
    HandoffError,
    HandoffNotFound,
    MinhuError,
    ReplyWindowClosed,
)
from bot.ports import (
    Clock,
    HandoffOutlook,
    HandoffStore,
    HistoryLine,
    ReplyWindows,
    StaffAlerts,
)
from bot.types import (
    AuditEntry,
    Channel,
    ConversationKey,
    EventKind,
    HandoffCase,
    HandoffQueue,
    HandoffReason,
    HandoffStatus,
    HistoryEntry,
    InboundKind,
    InboundMessage,
    Intent,
    OutboundMessage,
    ReplyWindowInfo,
)

__all__ = [
    "ALL_QUEUES",
    "HANDOFF_CONTEXT_KEY",
    "HandoffDesk",
    "HandoffEvent",
    "ServiceHours",
    "handoff_event",
    "parse_handoff_event",
    "turn_lines",
]

log = logging.getLogger("minhu.handoff")

# Where the conversation state keeps the id of its open case.
HANDOFF_CONTEXT_KEY = "handoff"
ALL_QUEUES: tuple[HandoffQueue, ...] = (HandoffQueue.AGENT, HandoffQueue.SUPERVISOR)

# Put in front of a staff reply on the resident's channel.
STAFF_REPLY_PREFIX = "【人工客服】"

REASON_LABELS: dict[HandoffReason, str] = {
    HandoffReason.ASKED: "居民要求转人工",
    HandoffReason.UNCLEAR: "连续两次未能理解",
    HandoffReason.DISTRESS: "情绪激动",
    HandoffReason.BAD_RATING: "同一诉求再次差评",
    HandoffReason.EMERGENCY: "紧急情况",
    HandoffReason.SENSITIVE: "敏感事项",
}


class EventSubmitter(Protocol):
    """The part of :class:`bot.ingest.Ingest` the desk feeds its events into."""

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object: ...


# ---------------------------------------------------------------- service hours

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_RULE = re.compile(
    r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True, slots=True)
class _Span:
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    total = int(hours) * 60 + int(minutes)
    if not 0 <= total <= 24 * 60 or int(minutes) >= 60:
        raise ValueError(f"not a time of day: {value}")
    return total


def _days(value: str) -> frozenset[int]:
    days: set[int] = set()
    for part in value.split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"unknown day in {value!r}: use mon tue wed thu fri sat sun")
        a = _DAYS.index(first)
        b = _DAYS.index(last) if last else a
        index = a
        while True:
            days.add(index)
            if index == b:
                break
            index = (index + 1) % 7
    return frozenset(days)


class ServiceHours:
    """When staff answer, in the district's time zone.

    ``"mon-fri 09:00-18:00"``; several spans separated by ``;``
    (``"mon-fri 09:00-18:00; sat 09:00-12:00"``); ``"always"`` or empty for
    round the clock. Public holidays are not modelled.
    """

    def __init__(self, spec: str, *, timezone: str | tzinfo = "Asia/Shanghai") -> None:
        self.spec = spec.strip()
        self.tz: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._spans: tuple[_Span, ...] = ()
        self.always = self.spec.lower() in ("", "always", "24/7")
        if not self.always:
            spans = []
            for part in self.spec.lower().split(";"):
                part = " ".join(part.split())
                if not part:
                    continue
                match = _RULE.match(part)
                if match is None:
                    raise ValueError(
                        f"service hours {part!r}: expected e.g. 'mon-fri 09:00-18:00'"
                    )
                start, end = _minutes(match["start"]), _minutes(match["end"])
                if end <= start:
                    raise ValueError(f"service hours {part!r}: the end must follow the start")
                spans.append(_Span(_days(match["days"]), start, end))
            if not spans:
                raise ValueError("service hours: no span given")
            self._spans = tuple(spans)

    def is_open(self, now: datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(
            local.weekday() in span.days and span.start <= minute < span.end
            for span in self._spans
        )

    def next_open(self, now: datetime) -> datetime:
        """``now`` when open, else when staff are next on duty."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        best: datetime | None = None
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            for span in self._spans:
                if day.weekday() not in span.days:
                    continue
                start = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
                    minutes=span.start
                )
                if start > local and (best is None or start < best):
                    best = start
            if best is not None:
                break
        assert best is not None, "service hours with spans always open again within a week"
        return best

    def describe(self) -> str:
        if self.always:
            return "全天"
        parts = []
        for span in self._spans:
            days = sorted(span.days)
            if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
                names = f"{_DAY_NAMES[days[0]]}至{_DAY_NAMES[days[-1]]}"
            else:
                names = "、".join(_DAY_NAMES[d] for d in days)
            parts.append(f"{names} {_clock(span.start)}-{_clock(span.end)}")
        return "；".join(parts)

    def words(self, at: datetime) -> str:
        """``at`` for the resident: "12月8日（周一）09:00"."""
        local = at.astimezone(self.tz)
        return f"{local.month}月{local.day}日（{_DAY_NAMES[local.weekday()]}）{local:%H:%M}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class HandoffEvent:
    action: str   # "opened" | "closed" | "idle"
    case_id: str
    note: str | None


def handoff_event(
    key: ConversationKey, action: str, case_id: str, at: datetime, *, note: str | None = None
) -> InboundMessage:
    """The synthetic message that opens or ends a handoff in a turn of its own;
    its id is the same however often it is fed, so it is processed once."""
    return InboundMessage(
        key=key,
        message_id=f"handoff:{case_id}:{action}"[:128],
        kind=InboundKind.EVENT,
        received_at=at,
        event=EventKind.HANDOFF,
        event_key=f"{action}:{case_id}",
        text=note,
    )


def parse_handoff_event(message: InboundMessage) -> HandoffEvent | None:
    if message.event is not EventKind.HANDOFF or not message.event_key:
        return None
    action, _, case_id = message.event_key.partition(":")
    if not case_id:
        return None
    return HandoffEvent(action, case_id, message.text)


# ---------------------------------------------------------------- history lines

_KIND_PLACEHOLDERS = {
    InboundKind.IMAGE: "[图片]",
    InboundKind.VOICE: "[语音]",
    InboundKind.VIDEO: "[视频]",
    InboundKind.LINK: "[链接]",
    InboundKind.UNKNOWN: "[暂不支持的消息]",
}
_EVENT_WORDS = {
    EventKind.SUBSCRIBE: "关注了公众号",
    EventKind.UNSUBSCRIBE: "取消关注",
    EventKind.SCAN: "扫描二维码",
    EventKind.CLICK: "点击菜单",
    EventKind.VIEW: "打开链接",
}


def _resident_line(
    message: InboundMessage, intent: Intent | None, case_id: str | None
) -> HistoryLine | None:
    key = message.key
    text = (message.text or "").strip()
    kind = "text"
    media_url = message.media_url
    if message.kind is InboundKind.EVENT:
        if message.event not in _EVENT_WORDS:
            return None  # automatic location reports, our own events
        assert message.event is not None
        kind = "event"
        label = text or message.event_key or ""
        text = f"{_EVENT_WORDS[message.event]}{'：' + label if label else ''}"
    elif message.kind is InboundKind.LOCATION:
        kind = "location"
        location = message.location
        if location is not None:
            coordinates = f"{location.latitude:.5f},{location.longitude:.5f}"
            text = f"{location.label or '位置'}（{coordinates}）"
    elif message.kind is InboundKind.VOICE:
        kind = "voice"
        text = text or _KIND_PLACEHOLDERS[InboundKind.VOICE]
    elif message.kind is InboundKind.IMAGE:
        kind = "image"
        text = text or _KIND_PLACEHOLDERS[InboundKind.IMAGE]
    elif message.kind is InboundKind.CONTACT:
        kind = "contact"
    elif message.kind in _KIND_PLACEHOLDERS:
        text = text or _KIND_PLACEHOLDERS[message.kind]
    if not text and message.payload:
        text = message.payload
    return HistoryLine(
        key=key,
        at=message.received_at,
        author="resident",
        kind=kind,
        text=text,
        intent=intent.name if intent else None,
        category=intent.category if intent else None,
        media_url=media_url,
        case_id=case_id,
        source=f"in:{key.channel.value}:{key.account}:{message.message_id}"[:200],
    )


def turn_lines(
    message: InboundMessage,
    intent: Intent | None,
    replies: Sequence[OutboundMessage],
    *,
    case_id: str | None,
    at: datetime,
) -> list[HistoryLine]:
    """One turn as the console shows it: what the resident sent, what the bot
    answered (a ticket's progress is a "ticket" line of the bot's)."""
    lines: list[HistoryLine] = []
    ticket = message.event is EventKind.TICKET
    if message.event not in (EventKind.TICKET, EventKind.HANDOFF):
        line = _resident_line(message, intent, case_id)
        if line is not None:
            lines.append(line)
    source = f"out:{message.key.channel.value}:{message.key.account}:{message.message_id}"
    for index, reply in enumerate(replies):
        lines.append(HistoryLine(
            key=message.key,
            at=at,
            author="bot",
            kind="ticket" if ticket else "text",
            text=reply.plain_text(),
            media_url=reply.image_url,
            case_id=case_id,
            source=f"{source}:{index}"[:200],
        ))
    return lines


# ---------------------------------------------------------------- the desk


def _new_case_id(now: datetime) -> str:
    return f"HO{now:%Y%m%d}{secrets.token_hex(4).upper()}"


def _last_activity(case: HandoffCase) -> datetime:
    times = [case.opened_at, case.claimed_at, case.last_resident_at, case.last_staff_at]
    return max(t for t in times if t is not None)


class HandoffDesk:
    """Implements ``bot.ports.Escalations`` for handlers, ``HandoffGate`` for the
    dispatcher, and the staff console's operations. Every staff action is audited."""

    def __init__(
        self,
        *,
        store: HandoffStore,
        windows: ReplyWindows,
        events: EventSubmitter,
        clock: Clock,
        hours: ServiceHours | None = None,
        avg_handle_minutes: float = 5.0,
        idle_minutes: float = 30.0,
        on_pushes: Callable[[], None] = lambda: None,
        idle_poll_seconds: float = 30.0,
        alerts: StaffAlerts | None = None,
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._windows = windows
        self._events = events
        self._clock = clock
        self.hours = hours or ServiceHours("always")
        self._avg = avg_handle_minutes
        self.idle_after = timedelta(minutes=idle_minutes)
        self._on_pushes = on_pushes
        self._idle_poll = idle_poll_seconds
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------ live updates

    def notify(self) -> None:
        """Something was recorded: wake whoever waits for changes in this process."""
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("a handoff listener failed")

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every change; returns a function that removes it."""
        self._listeners.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return remove

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until something changes here or ``timeout`` passes (then poll
        ``changes_since`` anyway: other replicas do not wake this one)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------ escalation

    async def escalate(
        self,
        key: ConversationKey,
        *,
        reason: HandoffReason,
        summary: str,
        queue: HandoffQueue | None = None,
        case_id: str | None = None,
    ) -> HandoffCase:
        """Open a case for ``key`` (or return its open one). Sensitive matters
        always go to the supervisors' queue."""
        now = self._clock()
        if reason is HandoffReason.SENSITIVE:
            queue = HandoffQueue.SUPERVISOR
        case = HandoffCase(
            case_id=case_id or _new_case_id(now),
            key=key,
            queue=queue or HandoffQueue.AGENT,
            reason=reason,
            status=HandoffStatus.WAITING,
            opened_at=now,
            summary=summary.strip()[:500],
            after_hours=not self.hours.is_open(now),
        )
        hours_note = "（非工作时间）" if case.after_hours else ""
        line = self._system_line(
            case, f"转人工{hours_note}：{REASON_LABELS[reason]}。{case.summary}".rstrip("。")
        )
        stored, created = await self._store.create(case, line)
        if created:
            log.info("handoff opened (%s, %s)", reason.value, stored.queue.value,
                     extra={"conversation": key.as_str(), "case_id": stored.case_id})
            await self._feed(stored, "opened")
            await self._alert(stored)
            self.notify()
        return stored

    async def _alert(self, case: HandoffCase) -> None:
        """Staff hear of a new case at once (a failed alert does not stop it)."""
        if self._alerts is None:
            return
        kind = ("after_hours" if case.after_hours
                else "supervisor" if case.queue is HandoffQueue.SUPERVISOR else "escalation")
        try:
            await self._alerts.alert(
                kind=kind, key=case.key,
                text=f"{REASON_LABELS[case.reason]}（{case.case_id}）：{case.summary}",
            )
        except MinhuError:
            log.exception("could not alert staff to a new handoff",
                          extra={"conversation": case.key.as_str()})

    async def outlook(self, case: HandoffCase, *, created: bool = True) -> HandoffOutlook:
        now = self._clock()
        waiting = await self._store.list_open(queues=[case.queue], include_active=False)
        ahead = sum(
            1 for other in waiting
            if other.case_id != case.case_id and other.opened_at <= case.opened_at
        )
        wait = max(1, math.ceil((ahead + 1) * self._avg))
        after_hours = not self.hours.is_open(now)
        back_at = self.hours.next_open(now) if after_hours else None
        return HandoffOutlook(
            case=case, created=created, ahead=ahead, wait_minutes=wait,
            after_hours=after_hours, back_at=back_at, hours=self.hours.describe(),
            back_text=self.hours.words(back_at) if back_at else "",
        )

    async def recent_text(self, key: ConversationKey, *, limit: int = 5) -> list[str]:
        since = self._clock() - timedelta(hours=24)
        lines = await self._store.history(key, limit=50, before=None)
        texts = [
            line.text for line in lines
            if line.author == "resident" and line.kind in ("text", "voice") and line.at >= since
            and line.text and not line.text.startswith("[")
        ]
        return texts[-limit:]

    # ------------------------------------------------------------ the gate

    async def hold(self, case_id: str, message: InboundMessage) -> bool:
        touched = await self._store.touch(case_id, resident_at=message.received_at)
        return touched is not None

    # ------------------------------------------------------------ reading

    async def open_case(self, key: ConversationKey) -> HandoffCase | None:
        return await self._store.open_for(key)

    async def get(self, case_id: str) -> HandoffCase:
        case = await self._store.get(case_id)
        if case is None:
            raise HandoffNotFound(f"no handoff case {case_id}")
        return case

    async def queue(
        self, *, queues: Sequence[HandoffQueue] = ALL_QUEUES, include_active: bool = True
    ) -> list[HandoffCase]:
        return await self._store.list_open(queues=queues, include_active=include_active)

    async def history(
        self, key: ConversationKey, *, limit: int = 200, before: int | None = None
    ) -> list[HistoryEntry]:
        return await self._store.history(key, limit=limit, before=before)

    async def changes_since(self, cursor: int, *, limit: int = 200) -> list[HistoryEntry]:
        return await self._store.changes_since(cursor, limit=limit)

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]:
        """These lines again, e.g. to see how far a staff reply's delivery got."""
        return await self._store.entries(ids)

    async def case_changes_since(
        self, cursor: int, *, limit: int = 200
    ) -> tuple[list[HandoffCase], int]:
        """Cases that changed after ``cursor`` (each case change is a "system"
        "event" line of the history with its case id), and the next cursor."""
        entries = await self._store.changes_since(cursor, limit=limit)
        seen: dict[str, None] = {}
        for entry in entries:
            if entry.author == "system" and entry.kind == "event" and entry.case_id:
                seen[entry.case_id] = None
        cases = [case for case_id in seen if (case := await self._store.get(case_id))]
        return cases, entries[-1].entry_id if entries else cursor

    async def window(self, key: ConversationKey) -> ReplyWindowInfo:
        if key.channel is not Channel.WECHAT:
            return ReplyWindowInfo(open=True)
        window = await self._windows.current(key)
        now = self._clock()
        remaining = max(0, window.quota - window.used) if window.expires_at else 0
        return ReplyWindowInfo(
            open=window.is_open(now), closes_at=window.expires_at, remaining=remaining
        )

    # ------------------------------------------------------------ staff actions

    async def claim(self, case_id: str, staff: str) -> HandoffCase:
        for _ in range(3):
            case = await self._open(case_id)
            if case.claimed_by is not None and case.claimed_by != staff:
                raise HandoffConflict(f"case {case_id} is handled by {case.claimed_by}")
            if case.claimed_by == staff and case.status is HandoffStatus.ACTIVE:
                return case
            now = self._clock()
            new = replace(case, status=HandoffStatus.ACTIVE, claimed_by=staff, claimed_at=now)
            if await self._store.replace(case, new, self._system_line(case, f"{staff} 接入会话")):
                await self.audit(staff, "claim", case_id=case_id)
                self.notify()
                return new
        raise HandoffConflict(f"case {case_id} keeps changing; try again")

    async def transfer(
        self,
        case_id: str,
        staff: str,
        *,
        to_staff: str | None = None,
        to_queue: HandoffQueue | None = None,
        action: str = "transfer",
    ) -> HandoffCase:
        for _ in range(3):
            case = await self._open(case_id)
            queue = to_queue or case.queue
            now = self._clock()
            if to_staff:
                new = replace(case, queue=queue, status=HandoffStatus.ACTIVE,
                              claimed_by=to_staff, claimed_at=now)
                words = f"{staff} 将会话转交给 {to_staff}"
            else:
                new = replace(case, queue=queue, status=HandoffStatus.WAITING,
                              claimed_by=None, claimed_at=None)
                words = (f"{staff} 将会话升级到值班长队列" if queue is HandoffQueue.SUPERVISOR
                         and action == "escalate" else f"{staff} 将会话转回{_queue_words(queue)}")
            if await self._store.replace(case, new, self._system_line(case, words)):
                detail = ", ".join(
                    part for part in (
                        f"to_staff={to_staff}" if to_staff else "",
                        f"to_queue={queue.value}",
                    ) if part
                )
                await self.audit(staff, action, case_id=case_id, detail=detail)
                self.notify()
                return new
        raise HandoffConflict(f"case {case_id} keeps changing; try again")

    async def escalate_to_supervisor(self, case_id: str, staff: str) -> HandoffCase:
        return await self.transfer(
            case_id, staff, to_queue=HandoffQueue.SUPERVISOR, action="escalate"
        )

    async def reply(self, case_id: str, staff: str, text: str) -> HistoryEntry:
        """Send ``text`` to the resident through the outbox. Raises
        ``ReplyWindowClosed`` when WeChat would refuse a customer-service
        message now: offer :meth:`reply_by_subscribe` instead."""
        case, text = await self._replying(case_id, staff, text)
        window = await self.window(case.key)
        if not window.open:
            raise ReplyWindowClosed(
                "the resident's reply window is closed", closes_at=window.closes_at,
                remaining=window.remaining,
            )
        return await self._send(case, staff, text, delivery="queued", action="reply")

    async def reply_by_subscribe(self, case_id: str, staff: str, text: str) -> HistoryEntry:
        """The fallback staff confirmed: a template (subscribe) message on WeChat
        (the outbox's sender uses it when the window is shut)."""
        case, text = await self._replying(case_id, staff, text)
        return await self._send(case, staff, text, delivery="subscribe",
                                action="reply_by_subscribe")

    async def hand_back(self, case_id: str, staff: str, *, note: str | None = None) -> HandoffCase:
        """End the case: the bot answers again and the resident is told so.
        ``note`` is for staff (the history and the audit log), not the resident."""
        return await self._close(case_id, staff, action="closed", note=note)

    async def close_idle(self, now: datetime | None = None) -> int:
        """Return to the bot every open case with no activity for the idle time."""
        now = now or self._clock()
        cutoff = now - self.idle_after
        closed = 0
        for case in await self._store.list_open(queues=ALL_QUEUES, include_active=True):
            if _last_activity(case) >= cutoff:
                continue
            try:
                await self._close(case.case_id, "idle", action="idle", note=None, audit=False)
            except HandoffConflict:
                continue
            closed += 1
        return closed

    async def run_idle(self, stop: asyncio.Event) -> None:
        """The container's loop: :meth:`close_idle` every ``idle_poll_seconds``."""
        while not stop.is_set():
            try:
                await self.close_idle()
            except MinhuError:
                log.exception("closing idle handoffs failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._idle_poll)

    # ------------------------------------------------------------ audit

    async def audit(
        self, staff: str, action: str, *, case_id: str | None = None, detail: str = ""
    ) -> None:
        await self._store.add_audit(AuditEntry(
            at=self._clock(), staff=staff, action=action, case_id=case_id, detail=detail
        ))

    async def audit_log(
        self, *, case_id: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        return await self._store.audit_log(case_id=case_id, limit=limit)

    # ------------------------------------------------------------ internals

    async def _open(self, case_id: str) -> HandoffCase:
        case = await self.get(case_id)
        if not case.is_open:
            raise HandoffConflict(f"case {case_id} is closed")
        return case

    async def _replying(self, case_id: str, staff: str, text: str) -> tuple[HandoffCase, str]:
        text = text.strip()
        if not text:
            raise HandoffError("an empty reply")
        case = await self._open(case_id)
        if case.claimed_by is None:
            case = await self.claim(case_id, staff)  # answering takes the case
        elif case.claimed_by != staff:
            raise HandoffConflict(f"case {case_id} is handled by {case.claimed_by}")
        return case, text

    async def _send(
        self, case: HandoffCase, staff: str, text: str, *, delivery: str, action: str
    ) -> HistoryEntry:
        now = self._clock()
        line = HistoryLine(
            key=case.key, at=now, author=f"staff:{staff}", kind="text", text=text,
            case_id=case.case_id, delivery=delivery,
        )
        entry = await self._store.add_reply(
            line, OutboundMessage.of_text(f"{STAFF_REPLY_PREFIX}{text}")
        )
        await self._store.touch(case.case_id, staff_at=now)
        await self.audit(staff, action, case_id=case.case_id, detail=text)
        self._on_pushes()
        self.notify()
        return entry

    async def _close(
        self, case_id: str, by: str, *, action: str, note: str | None, audit: bool = True
    ) -> HandoffCase:
        for _ in range(3):
            case = await self._open(case_id)
            now = self._clock()
            new = replace(case, status=HandoffStatus.CLOSED, closed_at=now, closed_by=by)
            words = ("长时间无新消息，会话已交还智能助手" if action == "idle"
                     else f"{by} 结束人工服务，会话已交还智能助手")
            if note:
                words = f"{words}（备注：{note}）"
            if await self._store.replace(case, new, self._system_line(case, words)):
                if audit:
                    await self.audit(by, "hand_back", case_id=case_id, detail=note or "")
                log.info("handoff closed (%s)", action,
                         extra={"conversation": case.key.as_str(), "case_id": case_id})
                await self._feed(new, action)
                self.notify()
                return new
        raise HandoffConflict(f"case {case_id} keeps changing; try again")

    async def _feed(self, case: HandoffCase, action: str) -> None:
        message = handoff_event(case.key, action, case.case_id, self._clock())
        await self._events.submit(message, passive_budget=None)

    def _system_line(self, case: HandoffCase, text: str) -> HistoryLine:
        return HistoryLine(
            key=case.key, at=self._clock(), author="system", kind="event", text=text,
            case_id=case.case_id,
        )


def _queue_words(queue: HandoffQueue) -> str:
    return "值班长队列" if queue is HandoffQueue.SUPERVISOR else "坐席队列"
