"""The bot's ledger of residents' requests: outbox to the backend, then ticket links.

Revision ID: 0004_ticket_ledger
Revises: 0003_staff
Create Date: 2026-11-23

Written by hand to match ``integrations.storage.models.ResidentTicket``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_ticket_ledger"
down_revision: str | None = "0003_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "resident_tickets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("token", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("status_at", _ts(), nullable=True),
        sa.Column("checked_at", _ts(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resident_tickets"),
        sa.UniqueConstraint("submission_id", name="uq_resident_tickets_submission_id"),
        sa.UniqueConstraint("ticket_id", name="uq_resident_tickets_ticket_id"),
    )
    op.create_index(
        "ix_resident_tickets_state_next_attempt_at", "resident_tickets",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        "ix_resident_tickets_conversation_key_id", "resident_tickets", ["conversation_key", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_resident_tickets_conversation_key_id", table_name="resident_tickets")
    op.drop_index("ix_resident_tickets_state_next_attempt_at", table_name="resident_tickets")
    op.drop_table("resident_tickets")
