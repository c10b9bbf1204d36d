"""Orders, items, idempotency keys, sagas, the outbox and relay heartbeats, with NOTIFY triggers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "orders"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("payment_method", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("contact_email", sa.Text, nullable=False),
        sa.Column("callback_url", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PROCESSING', 'CONFIRMED', 'CANCELLED', 'FAILED')",
            name="status_known",
        ),
        sa.CheckConstraint("total_minor >= 0", name="total_not_negative"),
        schema=SCHEMA,
    )
    op.create_index("orders_customer_created", "orders",
                    ["customer_id", sa.text("created_at DESC"), sa.text("order_id DESC")],
                    schema=SCHEMA)
    op.create_index("orders_created", "orders",
                    [sa.text("created_at DESC"), sa.text("order_id DESC")], schema=SCHEMA)
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid,
                  sa.ForeignKey(f"{SCHEMA}.orders.order_id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_id", sa.Uuid, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("line_total_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_range"),
        sa.CheckConstraint("unit_price_minor > 0", name="unit_price_positive"),
        sa.CheckConstraint("line_total_minor = unit_price_minor * quantity",
                           name="line_total_exact"),
        schema=SCHEMA,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("customer_id", "key"),
        schema=SCHEMA,
    )
    op.create_index("idempotency_keys_created", "idempotency_keys", ["created_at"],
                    schema=SCHEMA)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("aggregate_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("clock_timestamp()")),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("outbox_unsent", "outbox", ["created_at"], schema=SCHEMA,
                    postgresql_where=sa.text("sent_at IS NULL"))
    op.create_index("outbox_sent", "outbox", ["sent_at"], schema=SCHEMA,
                    postgresql_where=sa.text("sent_at IS NOT NULL"))
    op.create_table(
        "relay_heartbeats",
        sa.Column("relay_id", sa.Text, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_batch_size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_batch_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "sagas",
        sa.Column("saga_id", sa.Uuid, primary_key=True),
        sa.Column("order_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.orders.order_id"),
                  nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False, server_default="RUNNING"),
        sa.Column("current_step", sa.Text, nullable=False, server_default="RESERVE_STOCK"),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False,
                  server_default=sa.text("false")),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("last_error", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(
            "status IN ('RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'FAILED')",
            name="saga_status_known",
        ),
        schema=SCHEMA,
    )
    # Every status change, by the API or the saga worker, wakes WatchOrder streams.
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.notify_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
                PERFORM pg_notify('order_status', NEW.order_id::text);
            END IF;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE TRIGGER order_status_notify AFTER INSERT OR UPDATE OF status
        ON {SCHEMA}.orders FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.notify_order_status()""")
    # Once per statement: the relay only needs to know that something is waiting.
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('outbox', '');
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE TRIGGER outbox_notify AFTER INSERT ON {SCHEMA}.outbox
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.notify_outbox()""")


def downgrade() -> None:
    for table in ("sagas", "relay_heartbeats", "outbox", "idempotency_keys", "order_items",
                  "orders"):
        op.drop_table(table, schema=SCHEMA)
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.notify_order_status()")
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.notify_outbox()")
