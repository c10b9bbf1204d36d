"""Payment schema: payments (one per idempotency key), their gateway attempts, refunds.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "payment"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    now = sa.text("now()")
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.Uuid, primary_key=True),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("captured_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("payment_method", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("failure_reason", sa.Text),
        sa.Column("decline_code", sa.Text),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        sa.Column("updated_at", ts, nullable=False, server_default=now),
        sa.Column("captured_at", ts),
        sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "status IN ('PENDING','SUCCEEDED','DECLINED','PARTIALLY_REFUNDED','REFUNDED')",
            name="ck_payments_status",
        ),
        sa.CheckConstraint(
            "(status IN ('SUCCEEDED','PARTIALLY_REFUNDED','REFUNDED'))"
            " = (captured_minor = amount_minor)"
            " AND captured_minor IN (0, amount_minor)",
            name="ck_payments_captured",
        ),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= captured_minor",
            name="ck_payments_refunds_within_captured",
        ),
        schema=S,
    )
    op.create_index("ix_payments_order_id", "payments", ["order_id"], schema=S)
    op.create_table(
        "attempts",
        sa.Column("attempt_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("payment_id", sa.Uuid, sa.ForeignKey(f"{S}.payments.payment_id"), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("decline_code", sa.Text),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("started_at", ts, nullable=False, server_default=now),
        sa.Column("finished_at", ts),
        sa.UniqueConstraint("payment_id", "attempt_no", name="uq_attempts_payment_attempt_no"),
        sa.CheckConstraint(
            "outcome IN ('IN_FLIGHT','SUCCEEDED','DECLINED','FRAUD_SUSPECTED','TRANSIENT',"
            "'VELOCITY_LIMITED','ABANDONED')",
            name="ck_attempts_outcome",
        ),
        schema=S,
    )
    op.create_index(
        "ix_attempts_customer_started", "attempts", ["customer_id", "started_at"], schema=S
    )
    op.create_index(
        "uq_attempts_one_in_flight",
        "attempts",
        ["payment_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("outcome = 'IN_FLIGHT'"),
    )
    op.create_table(
        "refunds",
        sa.Column("refund_id", sa.Uuid, primary_key=True),
        sa.Column("payment_id", sa.Uuid, sa.ForeignKey(f"{S}.payments.payment_id"), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
        sa.CheckConstraint("status IN ('SUCCEEDED')", name="ck_refunds_status"),
        schema=S,
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"], schema=S)


def downgrade() -> None:
    op.drop_table("refunds", schema=S)
    op.drop_table("attempts", schema=S)
    op.drop_table("payments", schema=S)
