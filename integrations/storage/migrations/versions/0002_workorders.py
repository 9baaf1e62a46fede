"""The built-in work-order service: work orders, their timeline, ticket numbers, webhooks.

Revision ID: 0002_workorders
Revises: 0001_initial
Create Date: 2026-11-23

Written by hand to match ``integrations.ticketing.builtin.models``; the
contract suite checks with Alembic's autogenerate comparison that nothing differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_workorders"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workorders",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("service_code", sa.String(32), nullable=False),
        sa.Column("service_name", sa.String(64), nullable=False),
        sa.Column("request_type", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("address_id", sa.String(128), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("district", sa.String(64), nullable=True),
        sa.Column("street", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("account_id", sa.String(128), nullable=True),
        sa.Column("first_name", sa.String(64), nullable=True),
        sa.Column("last_name", sa.String(64), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("media_urls", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("department_code", sa.String(32), nullable=True),
        sa.Column("department_name", sa.String(128), nullable=True),
        sa.Column("status_note", sa.Text(), nullable=True),
        sa.Column("due_at", _ts(), nullable=False),
        sa.Column("requested_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("adopted", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workorders"),
        sa.UniqueConstraint("ticket_id", name="uq_workorders_ticket_id"),
        sa.UniqueConstraint("token", name="uq_workorders_token"),
        sa.UniqueConstraint("idempotency_key", name="uq_workorders_idempotency_key"),
    )
    op.create_index("ix_workorders_requested_at", "workorders", ["requested_at"])
    op.create_index("ix_workorders_status_due_at", "workorders", ["status", "due_at"])
    op.create_index(
        "ix_workorders_department_code_status", "workorders", ["department_code", "status"]
    )
    op.create_table(
        "workorder_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workorder_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("department_code", sa.String(32), nullable=True),
        sa.Column("department_name", sa.String(128), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=True),
        sa.Column("media_urls", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workorder_events"),
        sa.ForeignKeyConstraint(
            ["workorder_id"], ["workorders.id"],
            name="fk_workorder_events_workorder_id_workorders",
        ),
        sa.UniqueConstraint(
            "workorder_id", "idempotency_key",
            name="uq_workorder_events_workorder_id_idempotency_key",
        ),
    )
    op.create_index(
        "ix_workorder_events_workorder_id_id", "workorder_events", ["workorder_id", "id"]
    )
    op.create_index("ix_workorder_events_kind_id", "workorder_events", ["kind", "id"])
    op.create_table(
        "workorder_sequences",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_workorder_sequences"),
    )
    op.create_table(
        "workorder_webhooks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workorder_webhooks"),
        sa.UniqueConstraint("delivery_id", name="uq_workorder_webhooks_delivery_id"),
    )
    op.create_index(
        "ix_workorder_webhooks_status_next_attempt_at",
        "workorder_webhooks",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_workorder_webhooks_ticket_id_id", "workorder_webhooks", ["ticket_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_workorder_webhooks_ticket_id_id", table_name="workorder_webhooks")
    op.drop_index(
        "ix_workorder_webhooks_status_next_attempt_at", table_name="workorder_webhooks"
    )
    op.drop_table("workorder_webhooks")
    op.drop_table("workorder_sequences")
    op.drop_index("ix_workorder_events_kind_id", table_name="workorder_events")
    op.drop_index("ix_workorder_events_workorder_id_id", table_name="workorder_events")
    op.drop_table("workorder_events")
    op.drop_index("ix_workorders_department_code_status", table_name="workorders")
    op.drop_index("ix_workorders_status_due_at", table_name="workorders")
    op.drop_index("ix_workorders_requested_at", table_name="workorders")
    op.drop_table("workorders")
