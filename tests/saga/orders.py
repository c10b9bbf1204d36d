"""Orders for saga tests, written as the order API writes them (order, items, saga row)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int = 1
    unit_price_minor: int = 1000


async def place_order(pool: AsyncConnectionPool, lines: list[Line], *,
                      method: str = "pm_card_ok", deadline: float = 600.0,
                      customer_id: str | None = None) -> str:
    order_id = uuid.uuid4()
    customer = customer_id or f"cust-{order_id.hex[:12]}"
    total = sum(line.quantity * line.unit_price_minor for line in lines)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO orders.orders (order_id, customer_id, status, currency, total_minor,"
            " payment_method, locale, contact_email) VALUES (%s, %s, 'PENDING', 'EUR', %s, %s,"
            " 'en', %s)", (order_id, customer, total, method, f"{customer}@example.com"))
        for n, line in enumerate(lines):
            await conn.execute(
                "INSERT INTO orders.order_items (order_id, product_id, sku, name,"
                " unit_price_minor, quantity, line_total_minor) VALUES (%s, %s, %s, %s, %s, %s,"
                " %s)", (order_id, line.product_id, f"SKU-{n}", f"Item {n}",
                         line.unit_price_minor, line.quantity,
                         line.unit_price_minor * line.quantity))
        await conn.execute(
            "INSERT INTO orders.sagas (saga_id, order_id, deadline_at)"
            " VALUES (%s, %s, now() + %s * interval '1 second')",
            (uuid.uuid4(), order_id, deadline))
    return str(order_id)


async def row(pool: AsyncConnectionPool, sql: str, *params: Any) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        found = await cur.fetchone()
    assert found is not None, sql
    return dict(found)


async def rows(pool: AsyncConnectionPool, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return [dict(r) for r in await cur.fetchall()]


async def saga(pool: AsyncConnectionPool, order_id: str) -> dict[str, Any]:
    return await row(pool,
                     "SELECT s.*, o.status AS order_status, o.cancel_reason AS order_reason"
                     " FROM orders.sagas s JOIN orders.orders o USING (order_id)"
                     " WHERE s.order_id = %s", order_id)


async def steps(pool: AsyncConnectionPool, order_id: str) -> list[tuple[str, str, str]]:
    found = await rows(pool,
                       "SELECT step, direction, outcome FROM orders.saga_steps st"
                       " JOIN orders.sagas s USING (saga_id) WHERE s.order_id = %s"
                       " ORDER BY st.id", order_id)
    return [(r["step"], r["direction"], r["outcome"]) for r in found]
