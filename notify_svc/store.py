"""The notify schema (SQLAlchemy Core metadata) and its plain-SQL queries on the psycopg pool."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from notify_svc.domain import (
    Attempt,
    AttemptOutcome,
    AttemptResult,
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    Rendered,
    SendCommand,
)

SCHEMA = "notify"
Row = dict[str, Any]
metadata = MetaData(schema=SCHEMA)

_CHANNELS = "channel IN ('EMAIL', 'SMS', 'WEBHOOK')"
_STATUSES = "status IN ('PENDING', 'DELIVERED', 'BOUNCED', 'FAILED', 'SUPPRESSED')"
_OUTCOMES = "outcome IN ('DELIVERED', 'TRANSIENT_ERROR', 'PERMANENT_ERROR')"

notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("fingerprint", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False, server_default=""),
    Column("template", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("sms_text", Text, nullable=False),
    Column("recipient_email", Text, nullable=False, server_default=""),
    Column("recipient_phone", Text, nullable=False, server_default=""),
    Column("callback_url", Text, nullable=False, server_default=""),
    Column("variables", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("items", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The Send call delivering this notification owns it until lease_until (crash-safe lock).
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_notify_notifications_order_id", "order_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("notification_id", UUID(as_uuid=True),
           ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("destination", Text, nullable=False),
    Column("provider_message_id", Text, nullable=False, server_default=""),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("notification_id", "channel"),
    CheckConstraint(_CHANNELS, name="deliveries_channel_valid"),
    CheckConstraint(_STATUSES, name="deliveries_status_valid"),
    CheckConstraint("attempt_count >= 0", name="deliveries_attempt_count_nonnegative"),
    CheckConstraint("status <> 'DELIVERED' OR provider_message_id <> ''",
                    name="deliveries_delivered_has_provider_id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("notification_id", UUID(as_uuid=True), nullable=False),
    Column("channel", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("attempt_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("outcome", Text, nullable=False),
    Column("provider_message_id", Text, nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("duration_ms", Integer, nullable=False, server_default="0"),
    ForeignKeyConstraint(
        ["notification_id", "channel"],
        [f"{SCHEMA}.deliveries.notification_id", f"{SCHEMA}.deliveries.channel"],
        ondelete="CASCADE",
    ),
    UniqueConstraint("notification_id", "channel", "number", name="attempts_one_per_number"),
    CheckConstraint("number >= 1", name="attempts_number_positive"),
    CheckConstraint(_OUTCOMES, name="attempts_outcome_valid"),
)

recorded_emails = Table(
    "recorded_emails",
    metadata,
    Column("notification_id", UUID(as_uuid=True),
           ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", Text, nullable=False),
    Column("mail_from", Text, nullable=False),
    Column("rcpt_to", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("provider_message_id", Text, primary_key=True),
    Column("notification_id", UUID(as_uuid=True),
           ForeignKey(f"{SCHEMA}.notifications.id", ondelete="CASCADE"), nullable=False),
    Column("to_number", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("encoding", Text, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("segments >= 1", name="sms_messages_segments_positive"),
    CheckConstraint("encoding IN ('GSM-7', 'UCS-2')", name="sms_messages_encoding_valid"),
    Index("sms_messages_by_number", "to_number", "sent_at"),
)

sms_opt_outs = Table(
    "sms_opt_outs",
    metadata,
    Column("phone", Text, primary_key=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def _all(rows: Sequence[Any]) -> list[Row]:
    return cast(list[Row], rows)  # the pool's connections use dict_row (svckit.db)


def _row(row: Any) -> Row | None:
    return cast(Row | None, row)


# --- notifications ------------------------------------------------------------------------------


async def create_or_get(
    pool: AsyncConnectionPool, command: SendCommand, rendered: Rendered
) -> tuple[Notification, bool]:
    """The notification of the key, inserted with PENDING deliveries if new (True) or existing."""
    new_id = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """
            INSERT INTO notify.notifications
              (id, idempotency_key, fingerprint, order_id, customer_id, template, locale,
               subject, body_text, body_html, sms_text, recipient_email, recipient_phone,
               callback_url, variables, items)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """,
            (new_id, command.idempotency_key, command.fingerprint(), command.order_id,
             command.customer_id, command.template, rendered.locale, rendered.subject,
             rendered.text, rendered.html, rendered.sms, command.email, command.phone,
             command.callback_url, Jsonb(command.variables),
             Jsonb([vars(item) for item in command.items])),
        )
        created = await cur.fetchone() is not None
        if created:
            async with conn.cursor() as insert:
                await insert.executemany(
                    "INSERT INTO notify.deliveries (notification_id, channel, destination)"
                    " VALUES (%s, %s, %s)",
                    [(new_id, str(ch), command.destination(ch)) for ch in command.channels],
                )
    found = await get_by_key(pool, command.idempotency_key)
    assert found is not None  # inserted above or by the winner of the conflict
    return found, created


async def get_by_key(pool: AsyncConnectionPool, key: str) -> Notification | None:
    rows = await _load(pool, "n.idempotency_key = %s", (key,))
    return rows[0] if rows else None


async def get(pool: AsyncConnectionPool, notification_id: str) -> Notification | None:
    rows = await _load(pool, "n.id = %s", (notification_id,))
    return rows[0] if rows else None


async def list_for_order(
    pool: AsyncConnectionPool, order_id: str, customer_id: str | None
) -> list[Notification]:
    """The order's notifications, oldest first; only `customer_id`'s when given."""
    if customer_id is None:
        return await _load(pool, "n.order_id = %s", (order_id,))
    return await _load(pool, "n.order_id = %s AND n.customer_id = %s", (order_id, customer_id))


async def _load(pool: AsyncConnectionPool, where: str, params: Sequence[Any]) -> list[Notification]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT n.* FROM notify.notifications n WHERE {where}"
            " ORDER BY n.create_time, n.id",
            params,
        )
        rows = _all(await cur.fetchall())
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        cur = await conn.execute(
            "SELECT * FROM notify.deliveries WHERE notification_id = ANY(%s) ORDER BY channel",
            (ids,),
        )
        delivery_rows = _all(await cur.fetchall())
        cur = await conn.execute(
            "SELECT * FROM notify.attempts WHERE notification_id = ANY(%s)"
            " ORDER BY channel, number",
            (ids,),
        )
        attempt_rows = _all(await cur.fetchall())
    by_id = {row["id"]: _notification(row) for row in rows}
    index: dict[tuple[Any, str], Delivery] = {}
    for row in delivery_rows:
        delivery = Delivery(
            channel=Channel(row["channel"]),
            status=DeliveryStatus(row["status"]),
            destination=row["destination"],
            provider_message_id=row["provider_message_id"],
            last_error=row["last_error"],
            attempt_count=row["attempt_count"],
        )
        by_id[row["notification_id"]].deliveries.append(delivery)
        index[(row["notification_id"], row["channel"])] = delivery
    for row in attempt_rows:
        index[(row["notification_id"], row["channel"])].attempts.append(
            Attempt(
                number=row["number"],
                attempt_time=row["attempt_time"].timestamp(),
                outcome=AttemptOutcome(row["outcome"]),
                provider_message_id=row["provider_message_id"],
                error=row["error"],
                duration_ms=row["duration_ms"],
            )
        )
    return list(by_id.values())


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(
        notification_id=str(row["id"]),
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        template=row["template"],
        locale=row["locale"],
        subject=row["subject"],
        text=row["body_text"],
        html=row["body_html"],
        sms=row["sms_text"],
        email=row["recipient_email"],
        phone=row["recipient_phone"],
        callback_url=row["callback_url"],
        variables=dict(row["variables"]),
        items=list(row["items"]),
        create_time=row["create_time"].timestamp(),
        update_time=row["update_time"].timestamp(),
    )


# --- the delivery lease -------------------------------------------------------------------------


async def claim(pool: AsyncConnectionPool, notification_id: str, owner: str, lease: float) -> bool:
    """Takes the delivery lease unless another live call holds it (one deliverer per key)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """
            UPDATE notify.notifications
               SET lease_owner = %s, lease_until = now() + make_interval(secs => %s)
             WHERE id = %s AND (lease_until IS NULL OR lease_until < now())
            RETURNING id
            """,
            (owner, lease, notification_id),
        )
        return await cur.fetchone() is not None


async def release(pool: AsyncConnectionPool, notification_id: str, owner: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE notify.notifications SET lease_owner = NULL, lease_until = NULL"
            " WHERE id = %s AND lease_owner = %s",
            (notification_id, owner),
        )


async def record_attempt(
    pool: AsyncConnectionPool,
    notification_id: str,
    channel: Channel,
    number: int,
    result: AttemptResult,
    duration_ms: int,
) -> None:
    """Stores the attempt and moves the channel to the status it leaves, in one transaction."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO notify.attempts
              (notification_id, channel, number, outcome, provider_message_id, error, duration_ms)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            """,
            (notification_id, str(channel), number, str(result.outcome),
             result.provider_message_id, result.error[:2000], duration_ms),
        )
        await conn.execute(
            """
            UPDATE notify.deliveries
               SET status = %s, attempt_count = %s, update_time = now(),
                   provider_message_id = CASE WHEN %s <> '' THEN %s ELSE provider_message_id END,
                   last_error = %s
             WHERE notification_id = %s AND channel = %s
            """,
            (str(result.status), number, result.provider_message_id, result.provider_message_id,
             result.error[:2000], notification_id, str(channel)),
        )
        await conn.execute(
            "UPDATE notify.notifications SET update_time = now() WHERE id = %s",
            (notification_id,),
        )


# --- channels' own records ----------------------------------------------------------------------


async def record_email(
    pool: AsyncConnectionPool,
    notification_id: str,
    message_id: str,
    mail_from: str,
    rcpt_to: str,
    subject: str,
    message: str,
) -> None:
    """Stores the rendered message instead of sending it (NOTIFY_EMAIL_MODE=record)."""
    async with pool.connection() as conn:
        await conn.execute(
            """
            INSERT INTO notify.recorded_emails
              (notification_id, message_id, mail_from, rcpt_to, subject, message)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (notification_id) DO NOTHING
            """,
            (notification_id, message_id, mail_from, rcpt_to, subject, message),
        )


async def send_sms(
    pool: AsyncConnectionPool,
    *,
    notification_id: str,
    to_number: str,
    body: str,
    encoding: str,
    segments: int,
    rate_limit: int,
    rate_window: float,
) -> tuple[str, str | float | None]:
    """The simulator's send: ('sent', id) | ('opted_out', None) | ('rate_limited', retry_after).

    A per-number transaction lock makes the opt-out check, the rate count and the insert atomic
    across every process.
    """
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify.sms:' || %s))",
                           (to_number,))
        cur = await conn.execute("SELECT 1 FROM notify.sms_opt_outs WHERE phone = %s",
                                 (to_number,))
        if await cur.fetchone() is not None:
            return "opted_out", None
        cur = await conn.execute(
            """
            SELECT count(*) AS sent,
                   extract(epoch FROM min(sent_at) + make_interval(secs => %s) - now())
                     AS retry_after
              FROM notify.sms_messages
             WHERE to_number = %s AND sent_at > now() - make_interval(secs => %s)
            """,
            (rate_window, to_number, rate_window),
        )
        row = _row(await cur.fetchone())
        assert row is not None
        if row["sent"] >= rate_limit:
            return "rate_limited", max(float(row["retry_after"] or 0.0), 0.0)
        provider_id = "SM" + uuid.uuid4().hex
        await conn.execute(
            """
            INSERT INTO notify.sms_messages
              (provider_message_id, notification_id, to_number, body, encoding, segments)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            (provider_id, notification_id, to_number, body, encoding, segments),
        )
        return "sent", provider_id


async def opt_out(pool: AsyncConnectionPool, phone: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO notify.sms_opt_outs (phone) VALUES (%s) ON CONFLICT DO NOTHING", (phone,)
        )
