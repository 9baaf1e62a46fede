"""Tables of the staff handoff (``bot.handoff``): cases, the conversation history
the console reads, and the audit log of staff actions.

``migrations/versions/0006_handoff.py`` must match this module exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.ports import HistoryLine
from integrations.storage.codec import as_utc
from integrations.storage.models import Base, BigId, UTCDateTime

__all__ = ["HandoffAuditRow", "HandoffCaseRow", "HistoryRow", "history_rows"]

_TEXT_CHARS = 8000


class HandoffCaseRow(Base):
    """One conversation handed to staff.

    ``open_key`` is the conversation key while the case is open and NULL once
    it is closed: its unique constraint allows one open case per conversation
    on every backend (NULLs never collide).
    """

    __tablename__ = "handoff_cases"
    __table_args__ = (
        UniqueConstraint("open_key"),
        Index("ix_handoff_cases_status_opened_at", "status", "opened_at"),
        Index("ix_handoff_cases_conversation_key", "conversation_key"),
    )

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_key: Mapped[str] = mapped_column(String(255), nullable=False)
    open_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    queue: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_resident_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_staff_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    after_hours: Mapped[bool] = mapped_column(Boolean, nullable=False)


class HistoryRow(Base):
    """One line of a conversation: the resident, the bot, staff or a system note.

    ``id`` is the console's cursor. ``source`` (when set) makes a line unique,
    so that a turn recorded twice keeps one line. A staff reply keeps the id
    of its outbox row in ``delivery_id``; its delivery state is read from there.
    """

    __tablename__ = "handoff_history"
    __table_args__ = (
        UniqueConstraint("source"),
        Index("ix_handoff_history_conversation_key_id", "conversation_key", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_key: Mapped[str] = mapped_column(String(255), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    author: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    intent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    media_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivery: Mapped[str | None] = mapped_column(String(16), nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)


class HandoffAuditRow(Base):
    """Who did what to which case, and when (a reply's detail is its text)."""

    __tablename__ = "handoff_audit"
    __table_args__ = (Index("ix_handoff_audit_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    staff: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False)


def history_rows(lines: Sequence[HistoryLine]) -> list[dict[str, Any]]:
    """Column values of ``lines`` (what ``complete_turn`` inserts with the turn)."""
    return [
        {
            "conversation_key": line.key.as_str(),
            "at": as_utc(line.at),
            "author": line.author,
            "kind": line.kind,
            "text": line.text[:_TEXT_CHARS],
            "intent": line.intent,
            "category": line.category,
            "media_url": line.media_url,
            "case_id": line.case_id,
            "delivery": line.delivery,
            "delivery_id": None,
            "source": line.source,
        }
        for line in lines
    ]
