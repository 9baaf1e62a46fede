"""What the console shows, made ready for the templates and the live stream.

Everything here is plain data (strings, numbers, booleans): templates escape
it (Jinja autoescape) and the page script puts it in with ``textContent``,
so nothing a resident wrote is ever read as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ports import SubmissionState, TicketRecord
from bot.types import (
    REQUEST_TYPES,
    Channel,
    HandoffCase,
    HandoffQueue,
    HandoffReason,
    HandoffStatus,
    HistoryEntry,
    TicketStatus,
)
from integrations.staff.templating import local_time

__all__ = [
    "CHANNEL_LABELS",
    "INTENT_LABELS",
    "QUEUE_LABELS",
    "REASON_LABELS",
    "STATUS_LABELS",
    "CaseView",
    "TicketView",
    "author_kind",
    "case_json",
    "case_view",
    "delivery_view",
    "entry_view",
    "in_progress",
    "sla_class",
    "ticket_view",
    "wait_words",
]

CHANNEL_LABELS: dict[str, str] = {
    Channel.WECHAT.value: "微信公众号",
    Channel.MINIPROGRAM.value: "微信小程序",
    Channel.TELEGRAM.value: "Telegram",
}
QUEUE_LABELS: dict[HandoffQueue, str] = {
    HandoffQueue.AGENT: "坐席队列",
    HandoffQueue.SUPERVISOR: "值班长队列",
}
STATUS_LABELS: dict[HandoffStatus, str] = {
    HandoffStatus.WAITING: "等待接入",
    HandoffStatus.ACTIVE: "处理中",
    HandoffStatus.CLOSED: "已结束",
}
REASON_LABELS: dict[HandoffReason, str] = {
    HandoffReason.ASKED: "居民要求转人工",
    HandoffReason.UNCLEAR: "连续未能理解",
    HandoffReason.DISTRESS: "情绪激动",
    HandoffReason.BAD_RATING: "再次差评",
    HandoffReason.EMERGENCY: "紧急情况",
    HandoffReason.SENSITIVE: "敏感事项",
}
# NLU intents in words (request types come from REQUEST_TYPES).
INTENT_LABELS: dict[str, str] = {
    **REQUEST_TYPES,
    "emergency": "紧急情况",
    "human": "转人工",
    "withdraw": "撤回诉求",
    "cancel": "取消",
    "supplement": "补充材料",
    "query_status": "查询进度",
    "rate": "评价",
    "greet": "问候",
    "thank": "致谢",
    "goodbye": "再见",
    "affirm": "肯定",
    "deny": "否定",
    "out_of_scope": "无关内容",
    "unclear": "未能理解",
}
_KIND_LABELS = {
    "voice": "语音",
    "image": "图片",
    "location": "位置",
    "event": "事件",
    "contact": "联系电话",
    "ticket": "工单进度",
}
_DELIVERY_LABELS = {
    "queued": "发送中",
    "sent": "已送达渠道",
    "failed": "发送失败",
    "subscribe": "已改发订阅消息",
}
_SUBMISSION_LABELS = {
    SubmissionState.PENDING: "提交中",
    SubmissionState.REJECTED: "提交被拒",
}
SUMMARY_CHARS = 60


def _flat(text: str, limit: int = SUMMARY_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def author_kind(author: str) -> str:
    """``resident``, ``bot``, ``staff`` or ``system`` (the data-author of a message)."""
    if author.startswith("staff:"):
        return "staff"
    return author if author in ("resident", "bot", "system") else "system"


def _web_link(url: str | None) -> str | None:
    """Only http(s) links are shown as links (never javascript: or data:)."""
    if url and url.startswith(("https://", "http://")) and len(url) <= 2000:
        return url
    return None


def staff_name(username: str, names: Mapping[str, str]) -> str:
    name = names.get(username)
    return f"{name}（{username}）" if name else username


def entry_view(entry: HistoryEntry, names: Mapping[str, str]) -> dict[str, Any]:
    """One line of a conversation, as the page and the live stream show it."""
    kind = author_kind(entry.author)
    if kind == "staff":
        label = "坐席 " + staff_name(entry.author.removeprefix("staff:"), names)
    else:
        label = {"resident": "居民", "bot": "智能助手", "system": "系统"}[kind]
    intent = entry.intent
    if intent and intent in INTENT_LABELS:
        intent = f"{INTENT_LABELS[intent]}（{intent}）"
    return {
        "entry_id": entry.entry_id,
        "case_id": entry.case_id,
        "at": entry.at.isoformat(),
        "at_local": local_time(entry.at, "%m-%d %H:%M:%S"),
        "author": entry.author,
        "author_kind": kind,
        "author_label": label,
        "channel_label": CHANNEL_LABELS.get(entry.key.channel.value, entry.key.channel.value),
        "kind": entry.kind,
        "kind_label": _KIND_LABELS.get(entry.kind, ""),
        "text": entry.text,
        "intent": intent,
        "category": entry.category,
        "media_link": _web_link(entry.media_url),
        "delivery": entry.delivery,
        "delivery_label": _DELIVERY_LABELS.get(entry.delivery or "", ""),
    }


def delivery_view(entry: HistoryEntry) -> dict[str, Any]:
    """A staff reply's delivery state, for the live stream's "delivery" event."""
    return {
        "entry_id": entry.entry_id,
        "case_id": entry.case_id,
        "delivery": entry.delivery,
        "delivery_label": _DELIVERY_LABELS.get(entry.delivery or "", ""),
    }


def sla_class(seconds: float, amber: float, red: float) -> str:
    if seconds < amber:
        return "sla-green"
    if seconds < red:
        return "sla-amber"
    return "sla-red"


def wait_words(seconds: float) -> str:
    """``1分05秒``, ``2小时3分`` (the page script counts on from there)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}小时{minutes}分"
    if minutes:
        return f"{minutes}分{secs:02d}秒"
    return f"{secs}秒"


def wait_since(case: HandoffCase) -> datetime | None:
    """Since when the resident has been waiting for a person: since the case
    opened while nobody took it, since their last unanswered message after."""
    if case.status is HandoffStatus.WAITING:
        return case.opened_at
    if case.status is HandoffStatus.ACTIVE and case.last_resident_at is not None:
        answered = max(t for t in (case.last_staff_at, case.claimed_at, case.opened_at) if t)
        if case.last_resident_at > answered:
            return case.last_resident_at
    return None


@dataclass(frozen=True, slots=True)
class CaseView:
    case: HandoffCase
    status_label: str
    queue_label: str
    reason_label: str
    channel_label: str
    claimed_label: str
    closed_label: str
    summary: str
    wait_since: str | None
    wait_text: str
    wait_title: str
    sla_class: str
    mine: bool
    can_claim: bool


def case_view(
    case: HandoffCase,
    *,
    now: datetime,
    me: str,
    names: Mapping[str, str],
    amber: float,
    red: float,
) -> CaseView:
    since = wait_since(case)
    if since is not None:
        seconds = (now - since).total_seconds()
        wait_text, klass = wait_words(seconds), sla_class(seconds, amber, red)
        title = "等待接入" if case.status is HandoffStatus.WAITING else "居民等待回复"
    else:
        wait_text, klass, title = "已回复", "sla-green", "居民的消息都已回复"
    claimed = staff_name(case.claimed_by, names) if case.claimed_by else ""
    status = STATUS_LABELS[case.status]
    if case.status is HandoffStatus.ACTIVE and claimed:
        status = f"{status} · {claimed}"
    closed = ""
    if case.closed_by:
        closed = {"idle": "长时间无消息自动结束", "system": "系统结束"}.get(
            case.closed_by, f"{staff_name(case.closed_by, names)} 结束"
        )
    return CaseView(
        case=case,
        status_label=status,
        queue_label=QUEUE_LABELS[case.queue],
        reason_label=REASON_LABELS.get(case.reason, case.reason.value),
        channel_label=CHANNEL_LABELS.get(case.key.channel.value, case.key.channel.value),
        claimed_label=claimed,
        closed_label=closed,
        summary=_flat(case.summary),
        wait_since=since.isoformat() if since is not None else None,
        wait_text=wait_text,
        wait_title=title,
        sla_class=klass,
        mine=case.claimed_by == me,
        can_claim=case.status is HandoffStatus.WAITING,
    )


def case_json(case: HandoffCase, names: Mapping[str, str], *, visible: bool) -> dict[str, Any]:
    """A case for the live stream; only its id, queue and status when the
    viewer may not see it (a supervisor-queue case, for an agent)."""
    base: dict[str, Any] = {
        "case_id": case.case_id,
        "queue": case.queue.value,
        "status": case.status.value,
        "status_label": STATUS_LABELS[case.status],
    }
    if not visible:
        return {**base, "hidden": True}
    return {
        **base,
        "reason": case.reason.value,
        "reason_label": REASON_LABELS.get(case.reason, case.reason.value),
        "summary": case.summary,
        "opened_at": case.opened_at.isoformat(),
        "claimed_by": case.claimed_by,
        "claimed_by_label": staff_name(case.claimed_by, names) if case.claimed_by else "",
        "claimed_at": case.claimed_at.isoformat() if case.claimed_at else None,
        "last_resident_at": case.last_resident_at.isoformat() if case.last_resident_at else None,
        "last_staff_at": case.last_staff_at.isoformat() if case.last_staff_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "closed_by": case.closed_by,
        "after_hours": case.after_hours,
        "channel_label": CHANNEL_LABELS.get(case.key.channel.value, case.key.channel.value),
    }


@dataclass(frozen=True, slots=True)
class TicketView:
    ticket_id: str | None
    status_label: str
    type_label: str
    category: str
    created_at: datetime
    summary: str
    # Filed and still being worked on: staff may add a supplement to it.
    in_progress: bool = False


def in_progress(status: TicketStatus | None) -> bool:
    """A filed ticket that is still being worked on (not finished, closed or
    withdrawn): the same rule as the bot's 补充 and 撤回."""
    status = status or TicketStatus.ACCEPTED
    return status.is_open and not status.is_finished


def ticket_view(record: TicketRecord) -> TicketView:
    if record.status is not None:
        status = record.status.value
    else:
        status = _SUBMISSION_LABELS.get(record.state, "已提交")
    return TicketView(
        ticket_id=record.ticket_id,
        status_label=status,
        type_label=REQUEST_TYPES.get(record.draft.request_type, record.draft.request_type),
        category=record.draft.category,
        created_at=record.created_at,
        summary=_flat(record.draft.description, 40),
        in_progress=(
            record.ticket_id is not None
            and record.state is not SubmissionState.REJECTED
            and in_progress(record.status)
        ),
    )
