"""The `payment` schema (SQLAlchemy Core metadata) and the plain SQL the handlers run on it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg import AsyncConnection

SCHEMA = "payment"
metadata = sa.MetaData(schema=SCHEMA)

_TZ = sa.DateTime(timezone=True)
_NOW = sa.text("now()")

payments = sa.Table(
    "payments",
    metadata,
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
    sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
    sa.Column("updated_at", _TZ, nullable=False, server_default=_NOW),
    sa.Column("captured_at", _TZ),
    sa.Index("ix_payments_order_id", "order_id"),
    sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
    sa.CheckConstraint(
        "status IN ('PENDING','SUCCEEDED','DECLINED','PARTIALLY_REFUNDED','REFUNDED')",
        name="ck_payments_status",
    ),
    # Captured means all of it, exactly when the status says so.
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
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("attempt_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("payment_id", sa.Uuid, sa.ForeignKey("payment.payments.payment_id"), nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("attempt_no", sa.Integer, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text),
    sa.Column("decline_code", sa.Text),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("started_at", _TZ, nullable=False, server_default=_NOW),
    sa.Column("finished_at", _TZ),
    sa.UniqueConstraint("payment_id", "attempt_no", name="uq_attempts_payment_attempt_no"),
    sa.CheckConstraint(
        "outcome IN ('IN_FLIGHT','SUCCEEDED','DECLINED','FRAUD_SUSPECTED','TRANSIENT',"
        "'VELOCITY_LIMITED','ABANDONED')",
        name="ck_attempts_outcome",
    ),
    sa.Index("ix_attempts_customer_started", "customer_id", "started_at"),
    # At most one attempt of a payment talks to the gateway at a time.
    sa.Index(
        "uq_attempts_one_in_flight",
        "payment_id",
        unique=True,
        postgresql_where=sa.text("outcome = 'IN_FLIGHT'"),
    ),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("refund_id", sa.Uuid, primary_key=True),
    sa.Column(
        "payment_id",
        sa.Uuid,
        sa.ForeignKey("payment.payments.payment_id"),
        nullable=False,
    ),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("currency_code", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", _TZ, nullable=False, server_default=_NOW),
    sa.Index("ix_refunds_payment_id", "payment_id"),
    sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
    sa.CheckConstraint("status IN ('SUCCEEDED')", name="ck_refunds_status"),
)

Row = dict[str, Any]
Conn = AsyncConnection[Row]

_PAYMENT_COLUMNS = """
    p.*, (SELECT count(*) FROM payment.attempts a
          WHERE a.payment_id = p.payment_id AND a.outcome <> 'VELOCITY_LIMITED') AS attempt_count
"""


async def insert_payment_if_new(conn: Conn, row: Row) -> Row | None:
    """The new PENDING payment of a key (locked by this transaction), or None if the key exists.

    Concurrent first calls with one key race here: the unique index lets one row win."""
    cur = await conn.execute(
        """
        INSERT INTO payment.payments (payment_id, idempotency_key, request_hash, order_id,
            customer_id, currency_code, amount_minor, status, payment_method, description)
        VALUES (%(payment_id)s, %(idempotency_key)s, %(request_hash)s, %(order_id)s,
            %(customer_id)s, %(currency_code)s, %(amount_minor)s, 'PENDING', %(payment_method)s,
            %(description)s)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING *
        """,
        row,
    )
    return await cur.fetchone()


async def lock_payment_by_key(conn: Conn, key: str) -> Row:
    cur = await conn.execute(
        "SELECT * FROM payment.payments WHERE idempotency_key = %s FOR UPDATE", (key,)
    )
    row = await cur.fetchone()
    assert row is not None, "inserted or present in this transaction"
    return row


async def lock_payment(conn: Conn, payment_id: str) -> Row | None:
    cur = await conn.execute(
        "SELECT * FROM payment.payments WHERE payment_id = %s FOR UPDATE", (payment_id,)
    )
    return await cur.fetchone()


async def get_payment(conn: Conn, payment_id: str) -> Row | None:
    cur = await conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payment.payments p WHERE p.payment_id = %s",
        (payment_id,),
    )
    return await cur.fetchone()


async def list_payments(conn: Conn, order_id: str, customer_id: str | None) -> list[Row]:
    cur = await conn.execute(
        f"""
        SELECT {_PAYMENT_COLUMNS} FROM payment.payments p
        WHERE p.order_id = %(order_id)s
          AND (%(customer_id)s::text IS NULL OR p.customer_id = %(customer_id)s)
        ORDER BY p.created_at DESC, p.payment_id
        """,
        {"order_id": order_id, "customer_id": customer_id},
    )
    return await cur.fetchall()


async def attempt_summary(conn: Conn, payment_id: Any, lease: float) -> Row:
    """Attempts of a payment so far: last number, transient failures, the one in flight."""
    cur = await conn.execute(
        """
        SELECT coalesce(max(attempt_no), 0) AS last_no,
               count(*) FILTER (WHERE outcome = 'TRANSIENT') AS transients,
               max(attempt_id) FILTER (WHERE outcome = 'IN_FLIGHT') AS in_flight_id,
               coalesce(bool_or(outcome = 'IN_FLIGHT'
                        AND started_at < now() - make_interval(secs => %s)), false)
                   AS in_flight_stale
        FROM payment.attempts WHERE payment_id = %s
        """,
        (lease, payment_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def abandon_attempt(conn: Conn, attempt_id: int) -> None:
    await conn.execute(
        """
        UPDATE payment.attempts SET outcome = 'ABANDONED', finished_at = now(),
            error_code = 'LEASE_EXPIRED'
        WHERE attempt_id = %s AND outcome = 'IN_FLIGHT'
        """,
        (attempt_id,),
    )


async def lock_customer(conn: Conn, customer_id: str) -> None:
    """Serialises velocity checks of one customer until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('payment.velocity'), hashtext(%s))",
        (customer_id,),
    )


async def velocity_window(conn: Conn, customer_id: str, window: float) -> list[Row]:
    """The customer's idempotency keys with a gateway attempt in the window, and their latest."""
    cur = await conn.execute(
        """
        SELECT idempotency_key,
               extract(epoch FROM max(started_at) + make_interval(secs => %(w)s) - now())
                   AS seconds_left
        FROM payment.attempts
        WHERE customer_id = %(c)s AND outcome <> 'VELOCITY_LIMITED'
          AND started_at > now() - make_interval(secs => %(w)s)
        GROUP BY idempotency_key
        """,
        {"c": customer_id, "w": window},
    )
    return await cur.fetchall()


async def insert_attempt(
    conn: Conn, payment: Row, attempt_no: int, outcome: str, error_code: str | None
) -> int:
    cur = await conn.execute(
        """
        INSERT INTO payment.attempts (payment_id, idempotency_key, customer_id, attempt_no,
            outcome, error_code, finished_at)
        VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s = 'IN_FLIGHT' THEN NULL ELSE now() END)
        RETURNING attempt_id
        """,
        (
            payment["payment_id"],
            payment["idempotency_key"],
            payment["customer_id"],
            attempt_no,
            outcome,
            error_code,
            outcome,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["attempt_id"])


async def settle_attempt(
    conn: Conn,
    attempt_id: int,
    outcome: str,
    error_code: str | None,
    decline_code: str | None,
    latency_ms: int,
) -> Row | None:
    """Records an attempt's outcome and moves its payment along, in one statement.

    None when the attempt lost its lease meanwhile: then nothing is recorded or captured."""
    cur = await conn.execute(
        """
        WITH settled AS (
            UPDATE payment.attempts
            SET outcome = %(outcome)s, error_code = %(error_code)s,
                decline_code = %(decline_code)s, latency_ms = %(latency_ms)s, finished_at = now()
            WHERE attempt_id = %(attempt_id)s AND outcome = 'IN_FLIGHT'
            RETURNING payment_id
        )
        UPDATE payment.payments p
        SET status = CASE %(outcome)s::text
                WHEN 'SUCCEEDED' THEN 'SUCCEEDED'
                WHEN 'DECLINED' THEN 'DECLINED'
                WHEN 'FRAUD_SUSPECTED' THEN 'DECLINED'
                ELSE p.status END,
            captured_minor = CASE WHEN %(outcome)s::text = 'SUCCEEDED'
                THEN p.amount_minor ELSE p.captured_minor END,
            captured_at = CASE WHEN %(outcome)s::text = 'SUCCEEDED'
                THEN now() ELSE p.captured_at END,
            failure_reason = CASE WHEN %(outcome)s::text IN ('DECLINED', 'FRAUD_SUSPECTED')
                THEN %(error_code)s ELSE p.failure_reason END,
            decline_code = CASE WHEN %(outcome)s::text IN ('DECLINED', 'FRAUD_SUSPECTED')
                THEN %(decline_code)s ELSE p.decline_code END,
            updated_at = now()
        FROM settled
        WHERE p.payment_id = settled.payment_id AND p.status = 'PENDING'
        RETURNING p.*,
            (SELECT count(*) FROM payment.attempts a
             WHERE a.payment_id = p.payment_id AND a.outcome <> 'VELOCITY_LIMITED') AS attempt_count
        """,
        {
            "attempt_id": attempt_id,
            "outcome": outcome,
            "error_code": error_code,
            "decline_code": decline_code,
            "latency_ms": latency_ms,
        },
    )
    return await cur.fetchone()


async def attempt_outcome(conn: Conn, attempt_id: int, lease: float) -> Row:
    """An attempt's outcome so far, and whether it has been in flight longer than the lease."""
    cur = await conn.execute(
        """
        SELECT outcome,
               outcome = 'IN_FLIGHT' AND started_at < now() - make_interval(secs => %s) AS stale
        FROM payment.attempts WHERE attempt_id = %s
        """,
        (lease, attempt_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_refund_by_key(conn: Conn, key: str) -> Row | None:
    cur = await conn.execute("SELECT * FROM payment.refunds WHERE idempotency_key = %s", (key,))
    return await cur.fetchone()


async def insert_refund(conn: Conn, row: Row) -> Row | None:
    """The new refund, or None when its key was taken meanwhile."""
    cur = await conn.execute(
        """
        INSERT INTO payment.refunds (refund_id, payment_id, idempotency_key, request_hash,
            currency_code, amount_minor, reason, status, actor)
        VALUES (%(refund_id)s, %(payment_id)s, %(idempotency_key)s, %(request_hash)s,
            %(currency_code)s, %(amount_minor)s, %(reason)s, 'SUCCEEDED', %(actor)s)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING *
        """,
        row,
    )
    return await cur.fetchone()


async def add_refunded(conn: Conn, payment_id: Any, refunded_minor: int, status: str) -> None:
    await conn.execute(
        """
        UPDATE payment.payments SET refunded_minor = %s, status = %s, updated_at = now()
        WHERE payment_id = %s
        """,
        (refunded_minor, status, payment_id),
    )


async def list_refunds(conn: Conn, payment_id: Any) -> list[Row]:
    cur = await conn.execute(
        "SELECT * FROM payment.refunds WHERE payment_id = %s ORDER BY created_at, refund_id",
        (payment_id,),
    )
    return await cur.fetchall()
