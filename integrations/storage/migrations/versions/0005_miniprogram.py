"""The mini-program channel: users and their sessions, consents, inbox, photos.

Revision ID: 0005_miniprogram
Revises: 0004_ticket_ledger
Create Date: 2026-11-24

Written by hand to match ``integrations.miniprogram.models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_miniprogram"
down_revision: str | None = "0004_ticket_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mp_users",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("unionid", sa.String(128), nullable=True),
        sa.Column("session_key", sa.String(128), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("phone_consented_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_login_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mp_users"),
        sa.UniqueConstraint("app_id", "openid", name="uq_mp_users_app_id_openid"),
    )
    op.create_table(
        "mp_consents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("template_id", sa.String(128), nullable=False),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mp_consents"),
        sa.UniqueConstraint(
            "app_id", "openid", "template_id", name="uq_mp_consents_app_id_openid_template_id"
        ),
    )
    op.create_table(
        "mp_inbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("conversation_key", sa.String(255), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("dedupe", sa.String(64), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mp_inbox"),
        sa.UniqueConstraint("dedupe", name="uq_mp_inbox_dedupe"),
    )
    op.create_index("ix_mp_inbox_conversation_key_id", "mp_inbox", ["conversation_key", "id"])
    op.create_index(
        "ix_mp_inbox_conversation_key_ticket_id", "mp_inbox", ["conversation_key", "ticket_id"]
    )
    op.create_table(
        "mp_media",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mp_media"),
        sa.UniqueConstraint("sha256", "app_id", "openid", name="uq_mp_media_sha256_app_id_openid"),
    )


def downgrade() -> None:
    op.drop_table("mp_media")
    op.drop_index("ix_mp_inbox_conversation_key_ticket_id", table_name="mp_inbox")
    op.drop_index("ix_mp_inbox_conversation_key_id", table_name="mp_inbox")
    op.drop_table("mp_inbox")
    op.drop_table("mp_consents")
    op.drop_table("mp_users")
