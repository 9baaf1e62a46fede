"""Tables of the mini-program channel (declared on ``integrations.storage.models.Base``).

``migrations/versions/0005_miniprogram.py`` must match this module exactly.

Users are keyed by (mini-program app id, openid): an openid is only unique
within one app. Nothing here is ever sent to the mini-program as is: the
``session_key`` stays on the server, phone numbers leave masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integrations.storage.models import Base, BigId, UTCDateTime

__all__ = ["MpConsentRow", "MpInboxRow", "MpMediaRow", "MpUserRow"]


class MpUserRow(Base):
    """One mini-program user: the WeChat session behind their signed tokens.

    ``session_key`` is what ``jscode2session`` gave at the latest login; it
    decrypts the data the mini-program encrypts (the phone number) and is
    replaced at every login. ``phone`` is set only with the user's consent
    (they pressed the phone-number button), at ``phone_consented_at``.
    """

    __tablename__ = "mp_users"
    __table_args__ = (UniqueConstraint("app_id", "openid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(64), nullable=False)
    openid: Mapped[str] = mapped_column(String(128), nullable=False)
    unionid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    session_key: Mapped[str] = mapped_column(String(128), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MpConsentRow(Base):
    """A user's subscribe-message consent for one template.

    ``choice`` is the latest answer to ``wx.requestSubscribeMessage``
    (accept, reject, ban); ``remaining`` counts the one-time consents not
    yet used, each good for one message.
    """

    __tablename__ = "mp_consents"
    __table_args__ = (UniqueConstraint("app_id", "openid", "template_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(64), nullable=False)
    openid: Mapped[str] = mapped_column(String(128), nullable=False)
    template_id: Mapped[str] = mapped_column(String(128), nullable=False)
    choice: Mapped[str] = mapped_column(String(16), nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MpInboxRow(Base):
    """A message the bot pushed to a mini-program user, kept for the client to fetch.

    ``id`` is the cursor of ``GET /mp/v1/chat/messages?after=``. A ticket's
    progress push carries its ``ticket_id`` and a ``dedupe`` key (unique per
    status change), so that a retried delivery is stored once; ``via`` is
    ``subscribe`` once it also went out as a subscribe message.
    """

    __tablename__ = "mp_inbox"
    __table_args__ = (
        UniqueConstraint("dedupe"),
        Index("ix_mp_inbox_conversation_key_id", "conversation_key", "id"),
        Index("ix_mp_inbox_conversation_key_ticket_id", "conversation_key", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_key: Mapped[str] = mapped_column(String(255), nullable=False)
    message: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    ticket_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dedupe: Mapped[str | None] = mapped_column(String(64), nullable=True)
    via: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MpMediaRow(Base):
    """A photo a user uploaded: stored once per content (``sha256``), owned per user."""

    __tablename__ = "mp_media"
    __table_args__ = (UniqueConstraint("sha256", "app_id", "openid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    app_id: Mapped[str] = mapped_column(String(64), nullable=False)
    openid: Mapped[str] = mapped_column(String(128), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
