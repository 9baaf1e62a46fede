"""Tables of the staff accounts (declared on ``integrations.storage.models.Base``).

``migrations/versions/0003_staff.py`` must match this module exactly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integrations.storage.models import Base, BigId, UTCDateTime

__all__ = ["SignInFailureRow", "StaffAccountRow"]


class StaffAccountRow(Base):
    """One member of staff who may sign in to the staff pages.

    ``role`` is ``dispatcher`` (the 12345 centre: sees and dispatches every
    ticket), ``department`` (sees the tickets of ``department_code``) or
    ``admin``; ``agent`` and ``supervisor`` answer residents in the console.
    ``password_hash`` carries its own parameters (argon2id, or scrypt from before).
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (UniqueConstraint("username"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), nullable=False)
    display_name: Mapped[str] = mapped_column(String(64), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    department_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SignInFailureRow(Base):
    """One failed sign-in, kept for the throttling window.

    ``subject`` is what was attacked: ``user:<username>`` or
    ``addr:<client address>``; one failure writes a row for each. Kept in
    the database so that every replica counts the same failures.
    """

    __tablename__ = "staff_sign_in_failures"
    __table_args__ = (Index("ix_staff_sign_in_failures_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
