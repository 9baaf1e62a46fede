"""Staff handoff: cases, the conversation history the console reads, the audit log.

Revision ID: 0006_handoff
Revises: 0005_miniprogram
Create Date: 2026-12-05

Written by hand to match ``integrations.storage.handoff_models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_handoff"
down_revision: str | None = "0005_miniprogram"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoff_cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("open_key", sa.String(255), nullable=True),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", _ts(), nullable=True),
        sa.Column("last_resident_at", _ts(), nullable=True),
        sa.Column("last_staff_at", _ts(), nullable=True),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("after_hours", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_handoff_cases"),
        sa.UniqueConstraint("open_key", name="uq_handoff_cases_open_key"),
    )
    op.create_index(
        "ix_handoff_cases_status_opened_at", "handoff_cases", ["status", "opened_at"]
    )
    op.create_index(
        "ix_handoff_cases_conversation_key", "handoff_cases", ["conversation_key"]
    )
    op.create_table(
        "handoff_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(128), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("delivery", sa.String(16), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_history"),
        sa.UniqueConstraint("source", name="uq_handoff_history_source"),
    )
    op.create_index(
        "ix_handoff_history_conversation_key_id", "handoff_history", ["conversation_key", "id"]
    )
    op.create_table(
        "handoff_audit",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_audit"),
    )
    op.create_index("ix_handoff_audit_case_id_id", "handoff_audit", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_audit_case_id_id", table_name="handoff_audit")
    op.drop_table("handoff_audit")
    op.drop_index("ix_handoff_history_conversation_key_id", table_name="handoff_history")
    op.drop_table("handoff_history")
    op.drop_index("ix_handoff_cases_conversation_key", table_name="handoff_cases")
    op.drop_index("ix_handoff_cases_status_opened_at", table_name="handoff_cases")
    op.drop_table("handoff_cases")
