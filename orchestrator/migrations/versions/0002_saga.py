"""Saga worker: lease and compensation columns, step log, processed messages, dead letters.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "orders"
_NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("sagas", sa.Column("lease_token", sa.Uuid), schema=SCHEMA)
    op.add_column("sagas", sa.Column("lease_until", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("sagas", sa.Column("swept_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("sagas", sa.Column("compensate_from", sa.Text), schema=SCHEMA)
    op.add_column("sagas", sa.Column("compensation_reason", sa.Text), schema=SCHEMA)
    # The sweeper's scan: active sagas by due time.
    op.create_index(
        "sagas_active_due", "sagas", [sa.text("coalesce(next_attempt_at, updated_at)")],
        schema=SCHEMA, postgresql_where=sa.text("status IN ('RUNNING', 'COMPENSATING')"),
    )
    op.create_table(
        "saga_steps",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("saga_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.sagas.saga_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.CheckConstraint("direction IN ('do', 'undo')", name="step_direction_known"),
        sa.CheckConstraint("outcome IN ('OK', 'RETRY', 'FAILED', 'SKIPPED', 'GAVE_UP')",
                           name="step_outcome_known"),
        schema=SCHEMA,
    )
    op.create_index("saga_steps_saga", "saga_steps", ["saga_id", "id"], schema=SCHEMA)
    op.create_table(
        "saga_messages",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("saga_id", sa.Uuid, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        schema=SCHEMA,
    )
    op.create_index("saga_messages_processed", "saga_messages", ["processed_at"], schema=SCHEMA)
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("saga_id", sa.Uuid,
                  sa.ForeignKey(f"{SCHEMA}.sagas.saga_id", ondelete="SET NULL")),
        sa.Column("order_id", sa.Text),
        sa.Column("queue_name", sa.Text, nullable=False),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("message", JSONB, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("redriven_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("dead_letters_created", "dead_letters", ["created_at"], schema=SCHEMA)
    op.create_index("dead_letters_saga", "dead_letters", ["saga_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("dead_letters", schema=SCHEMA)
    op.drop_table("saga_messages", schema=SCHEMA)
    op.drop_table("saga_steps", schema=SCHEMA)
    op.drop_index("sagas_active_due", table_name="sagas", schema=SCHEMA)
    for column in ("compensation_reason", "compensate_from", "swept_at", "lease_until",
                   "lease_token"):
        op.drop_column("sagas", column, schema=SCHEMA)
