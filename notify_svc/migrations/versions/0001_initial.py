"""notify schema: notifications, per-channel deliveries, attempts, recorded emails, SMS.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "notify"
_CHANNELS = "channel IN ('EMAIL', 'SMS', 'WEBHOOK')"
_STATUSES = "status IN ('PENDING', 'DELIVERED', 'BOUNCED', 'FAILED', 'SUPPRESSED')"
_OUTCOMES = "outcome IN ('DELIVERED', 'TRANSIENT_ERROR', 'PERMANENT_ERROR')"



def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("sms_text", sa.Text, nullable=False),
        sa.Column("recipient_email", sa.Text, nullable=False, server_default=""),
        sa.Column("recipient_phone", sa.Text, nullable=False, server_default=""),
        sa.Column("callback_url", sa.Text, nullable=False, server_default=""),
        sa.Column("variables", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("items", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("lease_owner", sa.Text, nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_notifications_order_id", "notifications", ["order_id"],
                    schema=SCHEMA)
    op.create_table(
        "deliveries",
        sa.Column("notification_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("provider_message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("notification_id", "channel"),
        sa.CheckConstraint(_CHANNELS, name="deliveries_channel_valid"),
        sa.CheckConstraint(_STATUSES, name="deliveries_status_valid"),
        sa.CheckConstraint("attempt_count >= 0", name="deliveries_attempt_count_nonnegative"),
        sa.CheckConstraint("status <> 'DELIVERED' OR provider_message_id <> ''",
                           name="deliveries_delivered_has_provider_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("attempt_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("provider_message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["notification_id", "channel"],
            [f"{SCHEMA}.deliveries.notification_id", f"{SCHEMA}.deliveries.channel"],
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("notification_id", "channel", "number",
                            name="attempts_one_per_number"),
        sa.CheckConstraint("number >= 1", name="attempts_number_positive"),
        sa.CheckConstraint(_OUTCOMES, name="attempts_outcome_valid"),
        schema=SCHEMA,
    )
    op.create_table(
        "recorded_emails",
        sa.Column("notification_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("mail_from", sa.Text, nullable=False),
        sa.Column("rcpt_to", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "sms_messages",
        sa.Column("provider_message_id", sa.Text, primary_key=True),
        sa.Column("notification_id", UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("to_number", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("encoding", sa.Text, nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("segments >= 1", name="sms_messages_segments_positive"),
        sa.CheckConstraint("encoding IN ('GSM-7', 'UCS-2')", name="sms_messages_encoding_valid"),
        schema=SCHEMA,
    )
    op.create_index("sms_messages_by_number", "sms_messages", ["to_number", "sent_at"],
                    schema=SCHEMA)
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.Text, primary_key=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("sms_opt_outs", "sms_messages", "recorded_emails", "attempts", "deliveries",
                  "notifications"):
        op.drop_table(table, schema=SCHEMA)
