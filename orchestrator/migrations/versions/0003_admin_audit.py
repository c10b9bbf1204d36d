"""Admin CLI: the audit table of operator repairs (who, when, what, why, before/after).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "orders"


def upgrade() -> None:
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("verb", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("order_id", sa.Uuid),
        sa.Column("reason", sa.Text),
        sa.Column("before_status", sa.Text),
        sa.Column("after_status", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )
    op.create_index("admin_audit_at", "admin_audit", ["at"], schema=SCHEMA)
    op.create_index("admin_audit_order", "admin_audit", ["order_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("admin_audit", schema=SCHEMA)
