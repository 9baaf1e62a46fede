"""The initial schema: conversations, inbound journal, outbox, reply windows, tokens.

Revision ID: 0001_initial
Revises:
Create Date: 2024-11-23

Written by hand to match ``integrations.storage.models``; the contract suite
checks with Alembic's autogenerate comparison that nothing differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_active_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_conversations"),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("intent_name", sa.String(128), nullable=True),
        sa.Column("intent_confidence", sa.Float(), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("handler", sa.String(128), nullable=True),
        sa.Column("passive_reply", sa.JSON(), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.UniqueConstraint(
            "channel",
            "account",
            "message_id",
            name="uq_inbound_messages_channel_account_message_id",
        ),
    )
    op.create_index(
        "ix_inbound_messages_status_lease_until",
        "inbound_messages",
        ["status", "lease_until"],
    )
    op.create_index(
        "ix_inbound_messages_conversation_key", "inbound_messages", ["conversation_key"]
    )
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("via", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index(
        "ix_deliveries_status_conversation_key_id",
        "deliveries",
        ["status", "conversation_key", "id"],
    )
    op.create_index(
        "ix_deliveries_status_next_attempt_at", "deliveries", ["status", "next_attempt_at"]
    )
    op.create_table(
        "reply_windows",
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_key", name="pk_reply_windows"),
    )
    op.create_table(
        "tokens",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tokens"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_table("reply_windows")
    op.drop_index("ix_deliveries_status_next_attempt_at", table_name="deliveries")
    op.drop_index("ix_deliveries_status_conversation_key_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_inbound_messages_conversation_key", table_name="inbound_messages")
    op.drop_index("ix_inbound_messages_status_lease_until", table_name="inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_table("conversations")
