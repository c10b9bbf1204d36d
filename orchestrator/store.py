"""Order tables (schema `orders`) and the plain SQL the order API runs on the psycopg pool."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from orchestrator.domain import (
    ORDER_CANCEL_REQUESTED,
    ORDER_PLACED,
    Order,
    OrderStatus,
    PlaceOrder,
    PricedItem,
    StatusSnapshot,
)

SCHEMA = "orders"
metadata = MetaData(schema=SCHEMA)

_NOW = text("now()")

orders = Table(
    "orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("cancel_reason", Text),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("payment_method", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("contact_email", Text, nullable=False),
    Column("callback_url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("version", Integer, nullable=False, server_default="0"),
    CheckConstraint(
        "status IN ('PENDING', 'PROCESSING', 'CONFIRMED', 'CANCELLED', 'FAILED')",
        name="status_known",
    ),
    CheckConstraint("total_minor >= 0", name="total_not_negative"),
    Index("orders_customer_created", "customer_id", text("created_at DESC"),
          text("order_id DESC")),
    Index("orders_created", text("created_at DESC"), text("order_id DESC")),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Uuid, ForeignKey("orders.order_id", ondelete="CASCADE"), nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("line_total_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", "product_id"),
    CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_range"),
    CheckConstraint("unit_price_minor > 0", name="unit_price_positive"),
    CheckConstraint("line_total_minor = unit_price_minor * quantity", name="line_total_exact"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("customer_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    PrimaryKeyConstraint("customer_id", "key"),
    Index("idempotency_keys_created", "created_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("aggregate_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False,
           server_default=text("clock_timestamp()")),
    Column("sent_at", DateTime(timezone=True)),
    Index("outbox_unsent", "created_at", postgresql_where=text("sent_at IS NULL")),
    Index("outbox_sent", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
)

relay_heartbeats = Table(
    "relay_heartbeats",
    metadata,
    Column("relay_id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("last_batch_size", Integer, nullable=False, server_default="0"),
    Column("last_batch_at", DateTime(timezone=True)),
)

sagas = Table(
    "sagas",
    metadata,
    Column("saga_id", Uuid, primary_key=True),
    Column("order_id", Uuid, ForeignKey("orders.order_id"), nullable=False, unique=True),
    Column("status", Text, nullable=False, server_default="RUNNING"),
    Column("current_step", Text, nullable=False, server_default="RESERVE_STOCK"),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("cancel_reason", Text),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("last_error", Text),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    CheckConstraint(
        "status IN ('RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'FAILED')",
        name="saga_status_known",
    ),
)

# --- order intake ------------------------------------------------------------------------

_CLAIM_KEY = """
INSERT INTO orders.idempotency_keys (customer_id, key, request_hash, order_id)
VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING order_id"""
_INSERT_ORDER = """
INSERT INTO orders.orders (order_id, customer_id, status, currency, total_minor, payment_method,
                           locale, contact_email, callback_url)
VALUES (%s, %s, 'PENDING', %s, %s, %s, %s, %s, %s) RETURNING created_at, updated_at"""
_INSERT_ITEMS = """
INSERT INTO orders.order_items (order_id, product_id, sku, name, unit_price_minor, quantity,
                                line_total_minor)
SELECT %s, * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bigint[], %s::int[],
                         %s::bigint[])"""
_INSERT_SAGA = """
INSERT INTO orders.sagas (saga_id, order_id, deadline_at)
VALUES (%s, %s, now() + %s * interval '1 second')"""
_INSERT_OUTBOX = """
INSERT INTO orders.outbox (id, aggregate_id, event_type, payload) VALUES (%s, %s, %s, %s)"""


class KeyTaken(Exception):
    """Raised inside the intake transaction when another request already holds the key."""


async def insert_order(conn: AsyncConnection[Any], order_id: uuid.UUID, request: PlaceOrder,
                       currency: str, total: int) -> Any:
    """Queues the order INSERT (pipeline mode); the cursor yields its timestamps."""
    return await conn.execute(
        _INSERT_ORDER,
        (order_id, request.customer_id, currency, total, request.payment_method, request.locale,
         request.contact_email, request.callback_url or None),
    )


async def insert_items(conn: AsyncConnection[Any], order_id: uuid.UUID,
                       items: Sequence[PricedItem]) -> None:
    """All lines in one statement (arrays unnested server-side): one round trip per order."""
    await conn.execute(
        _INSERT_ITEMS,
        (order_id, [uuid.UUID(i.product_id) for i in items], [i.sku for i in items],
         [i.name for i in items], [i.unit_price_minor for i in items],
         [i.quantity for i in items], [i.line_total_minor for i in items]),
    )


async def insert_saga(conn: AsyncConnection[Any], order_id: uuid.UUID, deadline: float) -> None:
    await conn.execute(_INSERT_SAGA, (uuid.uuid4(), order_id, deadline))


async def insert_outbox(conn: AsyncConnection[Any], order_id: uuid.UUID, event_type: str,
                        payload: dict[str, Any]) -> None:
    await conn.execute(_INSERT_OUTBOX, (uuid.uuid4(), order_id, event_type, Jsonb(payload)))


async def place_order(conn: AsyncConnection[Any], order_id: uuid.UUID, request: PlaceOrder,
                      currency: str, total: int, items: Sequence[PricedItem],
                      saga_deadline: float) -> tuple[datetime, datetime]:
    """Key, order, items, saga and OrderPlaced event in the caller's transaction, pipelined.

    Raises KeyTaken (the caller rolls back) when the idempotency key is already held; a
    concurrent holder makes the key INSERT wait until it commits or rolls back.
    """
    async with conn.pipeline():
        key_cur = None
        if request.idempotency_key:
            key_cur = await conn.execute(
                _CLAIM_KEY,
                (request.customer_id, request.idempotency_key, request.fingerprint, order_id),
            )
        order_cur = await insert_order(conn, order_id, request, currency, total)
        await insert_items(conn, order_id, items)
        await insert_saga(conn, order_id, saga_deadline)
        await insert_outbox(conn, order_id, ORDER_PLACED, {
            "order_id": str(order_id), "customer_id": request.customer_id,
            "currency": currency, "total_minor": total,
        })
    if key_cur is not None and await key_cur.fetchone() is None:
        raise KeyTaken
    row = await order_cur.fetchone()
    return row["created_at"], row["updated_at"]


async def find_key(conn: AsyncConnection[Any], customer_id: str, key: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT request_hash, order_id FROM orders.idempotency_keys"
        " WHERE customer_id = %s AND key = %s",
        (customer_id, key),
    )
    row: dict[str, Any] | None = await cur.fetchone()
    return row


async def purge_keys(conn: AsyncConnection[Any], older_than_seconds: float) -> int:
    cur = await conn.execute(
        "DELETE FROM orders.idempotency_keys WHERE created_at < now() - %s * interval '1 second'",
        (older_than_seconds,),
    )
    return cur.rowcount


# --- reads -------------------------------------------------------------------------------

_ORDER_COLUMNS = """order_id, customer_id, status, cancel_reason, currency, total_minor,
    payment_method, locale, contact_email, callback_url, created_at, updated_at"""


def _order(row: dict[str, Any], items: Sequence[PricedItem]) -> Order:
    return Order(
        order_id=str(row["order_id"]), customer_id=row["customer_id"],
        status=OrderStatus(row["status"]), cancel_reason=row["cancel_reason"],
        currency=row["currency"], total_minor=row["total_minor"],
        payment_method=row["payment_method"], locale=row["locale"],
        contact_email=row["contact_email"], callback_url=row["callback_url"],
        created_at=row["created_at"], updated_at=row["updated_at"], items=tuple(items),
    )


def _item(row: dict[str, Any]) -> PricedItem:
    return PricedItem(str(row["product_id"]), row["sku"], row["name"], row["unit_price_minor"],
                      row["quantity"])


async def _items_of(conn: AsyncConnection[Any], ids: Sequence[uuid.UUID]
                    ) -> dict[str, list[PricedItem]]:
    cur = await conn.execute(
        "SELECT order_id, product_id, sku, name, unit_price_minor, quantity"
        " FROM orders.order_items WHERE order_id = ANY(%s) ORDER BY order_id, sku",
        (list(ids),),
    )
    grouped: dict[str, list[PricedItem]] = {}
    for row in await cur.fetchall():
        grouped.setdefault(str(row["order_id"]), []).append(_item(row))
    return grouped


async def get_order(conn: AsyncConnection[Any], order_id: uuid.UUID, *,
                    for_update: bool = False) -> Order | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders.orders WHERE order_id = %s{lock}", (order_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    items = await _items_of(conn, [order_id])
    return _order(row, items.get(str(order_id), []))


async def list_orders(conn: AsyncConnection[Any], *, customer_id: str | None,
                      status: OrderStatus | None, after: tuple[datetime, uuid.UUID] | None,
                      limit: int) -> list[Order]:
    """Newest first, keyset-paginated on (created_at, order_id)."""
    where: list[str] = []
    params: list[Any] = []
    if customer_id is not None:
        where.append("customer_id = %s")
        params.append(customer_id)
    if status is not None:
        where.append("status = %s")
        params.append(status.value)
    if after is not None:
        where.append("(created_at, order_id) < (%s, %s)")
        params.extend(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cur = await conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders.orders {clause}"
        " ORDER BY created_at DESC, order_id DESC LIMIT %s",
        (*params, limit),
    )
    rows = await cur.fetchall()
    items = await _items_of(conn, [r["order_id"] for r in rows]) if rows else {}
    return [_order(r, items.get(str(r["order_id"]), [])) for r in rows]


async def status_snapshots(conn: AsyncConnection[Any], ids: Sequence[uuid.UUID]
                           ) -> list[tuple[str, StatusSnapshot]]:
    """(customer_id, snapshot) of each order found."""
    cur = await conn.execute(
        "SELECT order_id, customer_id, status, cancel_reason, updated_at FROM orders.orders"
        " WHERE order_id = ANY(%s)",
        (list(ids),),
    )
    return [
        (r["customer_id"], StatusSnapshot(str(r["order_id"]), OrderStatus(r["status"]),
                                          r["cancel_reason"], r["updated_at"]))
        for r in await cur.fetchall()
    ]


# --- cancel ------------------------------------------------------------------------------

async def request_cancel(conn: AsyncConnection[Any], order_id: uuid.UUID, reason: str) -> bool:
    """Flags the saga and records an OrderCancelRequested event, once; True if newly flagged."""
    cur = await conn.execute(
        "UPDATE orders.sagas SET cancel_requested = true, cancel_reason = %s, updated_at = now(),"
        " version = version + 1 WHERE order_id = %s AND NOT cancel_requested RETURNING saga_id",
        (reason, order_id),
    )
    if await cur.fetchone() is None:
        return False
    await insert_outbox(conn, order_id, ORDER_CANCEL_REQUESTED,
                        {"order_id": str(order_id), "reason": reason})
    return True


async def cancel_requested(conn: AsyncConnection[Any], order_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "SELECT cancel_requested FROM orders.sagas WHERE order_id = %s", (order_id,)
    )
    row = await cur.fetchone()
    return bool(row and row["cancel_requested"])
