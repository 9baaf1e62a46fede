"""Tables of the built-in work-order service (declared on ``integrations.storage.models.Base``).

``migrations/versions/0002_workorders.py`` must match this module exactly.

- ``workorders``: one row per ticket, with its current status and department.
- ``workorder_events``: its timeline (status changes, supplements, ratings,
  alerts), oldest first by id; an event's ``idempotency_key`` is unique per
  ticket, so a repeated supplement, withdrawal or rating records nothing new.
- ``workorder_sequences``: the per-day counter behind ``MH20261123 0007``.
- ``workorder_webhooks``: the durable outbox of status webhooks, written in the
  transaction of the change itself, so no change is lost or announced twice
  with different ids.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrations.storage.models import Base, BigId, UTCDateTime

__all__ = [
    "WebhookStatus",
    "WorkOrderEventRow",
    "WorkOrderRow",
    "WorkOrderSequenceRow",
    "WorkOrderWebhookRow",
]


class WebhookStatus:
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class WorkOrderRow(Base):
    """One resident's request as the department handles it."""

    __tablename__ = "workorders"
    __table_args__ = (
        UniqueConstraint("ticket_id"),
        UniqueConstraint("token"),
        UniqueConstraint("idempotency_key"),
        Index("ix_workorders_requested_at", "requested_at"),
        Index("ix_workorders_status_due_at", "status", "due_at"),
        Index("ix_workorders_department_code_status", "department_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(32), nullable=False)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    service_code: Mapped[str] = mapped_column(String(32), nullable=False)
    service_name: Mapped[str] = mapped_column(String(64), nullable=False)
    request_type: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    address_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    long: Mapped[float | None] = mapped_column(Float, nullable=True)
    district: Mapped[str | None] = mapped_column(String(64), nullable=True)
    street: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False)
    media_urls: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    department_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    adopted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class WorkOrderEventRow(Base):
    """One entry of a ticket's timeline."""

    __tablename__ = "workorder_events"
    __table_args__ = (
        UniqueConstraint("workorder_id", "idempotency_key"),
        Index("ix_workorder_events_workorder_id_id", "workorder_id", "id"),
        Index("ix_workorder_events_kind_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workorder_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workorders.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    previous: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    department_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    adopted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    media_urls: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)


class WorkOrderSequenceRow(Base):
    """The last ticket number handed out on one local (Asia/Shanghai) day."""

    __tablename__ = "workorder_sequences"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class WorkOrderWebhookRow(Base):
    """A status webhook to deliver: the exact body, signed afresh on each attempt
    under the same ``delivery_id``."""

    __tablename__ = "workorder_webhooks"
    __table_args__ = (
        UniqueConstraint("delivery_id"),
        Index("ix_workorder_webhooks_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_workorder_webhooks_ticket_id_id", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(32), nullable=False)
    ticket_id: Mapped[str] = mapped_column(String(32), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
