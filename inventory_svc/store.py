"""Inventory tables (schema `inventory`) and the SQL that reads and changes them."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
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

from inventory_svc.domain import Item, MovementKind, ReservationStatus

SCHEMA = "inventory"
metadata = MetaData(schema=SCHEMA)

products = Table(
    "products",
    metadata,
    Column("product_id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("price_minor > 0", name="price_positive"),
    Index("products_created", "created_at", "product_id"),
)

stock = Table(
    "stock",
    metadata,
    Column("product_id", Uuid, ForeignKey("products.product_id"), primary_key=True),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("reserved <= on_hand", name="available_not_negative"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("items_hash", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "status IN ('HELD','RELEASED','EXPIRED','COMMITTED','RESTOCKED')", name="status_known"
    ),
    Index("reservations_held_expiry", "expires_at", postgresql_where=text("status = 'HELD'")),
)

reservation_items = Table(
    "reservation_items",
    metadata,
    Column("order_id", Uuid, ForeignKey("reservations.order_id"), nullable=False),
    Column("product_id", Uuid, ForeignKey("products.product_id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("order_id", "product_id"),
    CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_range"),
)

movements = Table(
    "movements",
    metadata,
    Column("movement_id", BigInteger, Identity(), primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.product_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("order_id", Uuid, nullable=True),
    Column("actor", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "kind IN ('INITIAL','ADJUST','RESERVE','RELEASE','EXPIRE','SALE','RESTOCK')",
        name="kind_known",
    ),
    Index("movements_product", "product_id", "movement_id"),
)

PRODUCT_COLUMNS = """p.product_id::text AS product_id, p.sku, p.name, p.description, p.price_minor,
    p.currency, p.active, p.created_at, p.updated_at, s.on_hand - s.reserved AS available"""
PRODUCT_FROM = "inventory.products p JOIN inventory.stock s USING (product_id)"

Row = dict[str, Any]
Conn = AsyncConnection[Any]


async def list_products(
    conn: Conn, *, limit: int, after: list[Any] | None, query: str, active: bool | None
) -> list[Row]:
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if query:
        where.append("(p.name ILIKE %(q)s OR p.sku ILIKE %(q)s OR p.description ILIKE %(q)s)")
        params["q"] = (
            "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
    if active is not None:
        where.append("p.active = %(active)s")
        params["active"] = active
    if after:
        where.append(
            "(p.created_at, p.product_id) < (%(after_ts)s::timestamptz, %(after_id)s::uuid)"
        )
        params["after_ts"], params["after_id"] = after
    sql = (
        f"SELECT {PRODUCT_COLUMNS} FROM {PRODUCT_FROM} WHERE {' AND '.join(where)} "
        "ORDER BY p.created_at DESC, p.product_id DESC LIMIT %(limit)s"
    )
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def get_products(conn: Conn, product_ids: list[str]) -> list[Row]:
    cur = await conn.execute(
        f"SELECT {PRODUCT_COLUMNS} FROM {PRODUCT_FROM} WHERE p.product_id = ANY(%s::uuid[])",
        (product_ids,),
    )
    return await cur.fetchall()


async def insert_product(conn: Conn, values: Row) -> Row | None:
    """The new product's id, or None when the SKU exists."""
    cur = await conn.execute(
        """INSERT INTO inventory.products (sku, name, description, price_minor, currency, active)
           VALUES (%(sku)s, %(name)s, %(description)s, %(price_minor)s, %(currency)s, %(active)s)
           ON CONFLICT (sku) DO NOTHING RETURNING product_id::text AS product_id""",
        values,
    )
    row = await cur.fetchone()
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO inventory.stock (product_id, on_hand) VALUES (%s, 0)", (row["product_id"],)
    )
    return dict(row)


async def update_product(conn: Conn, product_id: str, changes: Row) -> bool:
    if not changes:
        cur = await conn.execute(
            "SELECT 1 FROM inventory.products WHERE product_id = %s", (product_id,)
        )
        return await cur.fetchone() is not None
    sets = ", ".join(f"{column} = %({column})s" for column in changes)
    cur = await conn.execute(
        f"UPDATE inventory.products SET {sets}, updated_at = now() WHERE product_id = %(pid)s",
        {**changes, "pid": product_id},
    )
    return cur.rowcount == 1


async def lock_stock(conn: Conn, product_ids: list[str]) -> dict[str, Row]:
    """Stock rows locked FOR UPDATE in product-id order (a fixed order: no deadlocks)."""
    cur = await conn.execute(
        """SELECT s.product_id::text AS product_id, s.on_hand, s.reserved, p.active
           FROM inventory.stock s JOIN inventory.products p USING (product_id)
           WHERE s.product_id = ANY(%s::uuid[]) ORDER BY s.product_id FOR UPDATE OF s""",
        (product_ids,),
    )
    return {row["product_id"]: row for row in await cur.fetchall()}


async def get_stock(conn: Conn, product_id: str) -> Row | None:
    cur = await conn.execute(
        """SELECT product_id::text AS product_id, on_hand, reserved FROM inventory.stock
           WHERE product_id = %s""",
        (product_id,),
    )
    return await cur.fetchone()


async def apply_stock_changes(
    conn: Conn,
    kind: MovementKind,
    changes: list[tuple[str, int, int]],
    *,
    order_id: str | None,
    reason: str,
    actor: str,
    locked: bool = False,
) -> list[int]:
    """Applies (product_id, on_hand_delta, reserved_delta) changes, one ledger row each.

    The rows are locked in product-id order first (unless the caller already did): the UPDATE
    below joins unnest() and locks rows in whatever order its plan scans them, and two
    transactions locking the same rows in different orders deadlock.
    """
    pids = [c[0] for c in changes]
    if not locked:
        await lock_stock(conn, pids)
    on_hand = [c[1] for c in changes]
    reserved = [c[2] for c in changes]
    await conn.execute(
        """UPDATE inventory.stock s SET on_hand = s.on_hand + c.dh, reserved = s.reserved + c.dr
           FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS c(pid, dh, dr)
           WHERE s.product_id = c.pid""",
        (pids, on_hand, reserved),
    )
    cur = await conn.execute(
        """INSERT INTO inventory.movements
             (product_id, kind, on_hand_delta, reserved_delta, reason, order_id, actor)
           SELECT c.pid, %s, c.dh, c.dr, %s, %s, %s
           FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS c(pid, dh, dr)
           RETURNING movement_id""",
        (kind.value, reason, order_id, actor, pids, on_hand, reserved),
    )
    return [row["movement_id"] for row in await cur.fetchall()]


async def get_reservation(conn: Conn, order_id: str, *, for_update: bool = False) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(
        f"""SELECT order_id::text AS order_id, status, items_hash, expires_at, created_at,
                  updated_at, expires_at <= now() AS is_expired
           FROM inventory.reservations WHERE order_id = %s{lock}""",
        (order_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    items = await conn.execute(
        """SELECT product_id::text AS product_id, quantity FROM inventory.reservation_items
           WHERE order_id = %s ORDER BY product_id""",
        (order_id,),
    )
    row["items"] = [Item(r["product_id"], r["quantity"]) for r in await items.fetchall()]
    return dict(row)


async def insert_reservation(
    conn: Conn, order_id: str, items_hash: str, ttl_seconds: float
) -> bool:
    """False when the order already has a reservation (the caller reads it instead)."""
    cur = await conn.execute(
        """INSERT INTO inventory.reservations (order_id, status, items_hash, expires_at)
           VALUES (%s, 'HELD', %s, now() + make_interval(secs => %s))
           ON CONFLICT (order_id) DO NOTHING""",
        (order_id, items_hash, ttl_seconds),
    )
    return cur.rowcount == 1


async def insert_reservation_items(conn: Conn, order_id: str, items: list[Item]) -> None:
    await conn.execute(
        """INSERT INTO inventory.reservation_items (order_id, product_id, quantity)
           SELECT %s, pid, qty FROM unnest(%s::uuid[], %s::int[]) AS t(pid, qty)""",
        (order_id, [i.product_id for i in items], [i.quantity for i in items]),
    )


async def set_reservation_status(conn: Conn, order_id: str, status: ReservationStatus) -> None:
    await conn.execute(
        "UPDATE inventory.reservations SET status = %s, updated_at = now() WHERE order_id = %s",
        (status.value, order_id),
    )


async def claim_expired(conn: Conn, limit: int) -> list[str]:
    """Order ids of expired holds, locked; other reapers skip them."""
    cur = await conn.execute(
        """SELECT order_id::text AS order_id FROM inventory.reservations
           WHERE status = 'HELD' AND expires_at <= now()
           ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED""",
        (limit,),
    )
    return [row["order_id"] for row in await cur.fetchall()]


async def list_movements(
    conn: Conn, product_id: str, *, limit: int, before_id: int | None
) -> list[Row]:
    cur = await conn.execute(
        """SELECT movement_id, product_id::text AS product_id, kind, on_hand_delta,
                  reserved_delta, reason, order_id::text AS order_id, actor, created_at
           FROM inventory.movements
           WHERE product_id = %(pid)s AND (%(before)s::bigint IS NULL OR movement_id < %(before)s)
           ORDER BY movement_id DESC LIMIT %(limit)s""",
        {"pid": product_id, "before": before_id, "limit": limit},
    )
    return await cur.fetchall()
