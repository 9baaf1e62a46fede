"""Staff accounts and the sign-in failures used for throttling.

Revision ID: 0003_staff
Revises: 0002_workorders
Create Date: 2026-11-23

Written by hand to match ``integrations.staff.models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_staff"
down_revision: str | None = "0002_workorders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("department_code", sa.String(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_login_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_accounts"),
        sa.UniqueConstraint("username", name="uq_staff_accounts_username"),
    )
    op.create_table(
        "staff_sign_in_failures",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sign_in_failures"),
    )
    op.create_index(
        "ix_staff_sign_in_failures_subject_at", "staff_sign_in_failures", ["subject", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_staff_sign_in_failures_subject_at", table_name="staff_sign_in_failures")
    op.drop_table("staff_sign_in_failures")
    op.drop_table("staff_accounts")
