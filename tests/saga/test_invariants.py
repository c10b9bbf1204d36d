"""The invariant checker catches what it claims to: each violation planted by hand is reported."""

from __future__ import annotations

import uuid

import pytest
from psycopg_pool import AsyncConnectionPool

from orchestrator.saga.invariants import Databases, check
from tests.saga.orders import Line, place_order

pytestmark = pytest.mark.integration


async def _product(pool: AsyncConnectionPool, on_hand: int) -> str:
    """A product with a consistent ledger (one INITIAL movement)."""
    pid = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("INSERT INTO inventory.products (product_id, sku, name, price_minor,"
                           " currency) VALUES (%s, %s, 'p', 1000, 'EUR')",
                           (pid, f"INV-{pid.hex[:10]}"))
        await conn.execute("INSERT INTO inventory.stock (product_id, on_hand) VALUES (%s, %s)",
                           (pid, on_hand))
        await conn.execute("INSERT INTO inventory.movements (product_id, kind, on_hand_delta,"
                           " reserved_delta) VALUES (%s, 'INITIAL', %s, 0)", (pid, on_hand))
    return str(pid)


async def _set_order(pool: AsyncConnectionPool, order_id: str, status: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE orders.orders SET status = %s WHERE order_id = %s",
                           (status, order_id))


async def test_consistent_state_passes_and_each_planted_violation_is_found(
        saga_pool: AsyncConnectionPool, saga_database_url: str) -> None:
    dbs = Databases.single(saga_database_url)
    product = await _product(saga_pool, 5)
    cancelled = await place_order(saga_pool, [Line(product, 1)])
    await _set_order(saga_pool, cancelled, "CANCELLED")
    assert await check(dbs, order_ids=[cancelled], product_ids=[product]) == []

    # An order still in flight.
    pending = await place_order(saga_pool, [Line(product, 1)])
    assert any("not terminal" in p for p in await check(dbs, order_ids=[pending]))
    await _set_order(saga_pool, pending, "FAILED")
    assert any("FAILED" in p for p in await check(dbs, order_ids=[pending]))
    assert await check(dbs, order_ids=[pending], allow_failed=True) == []

    # A confirmed order with neither sale, capture nor confirmation.
    confirmed = await place_order(saga_pool, [Line(product, 1)])
    await _set_order(saga_pool, confirmed, "CONFIRMED")
    found = await check(dbs, order_ids=[confirmed])
    assert any("reservation None" in p for p in found)
    assert any("captures" in p for p in found)
    assert any("0 confirmations" in p for p in found)

    # A cancelled order whose capture was never refunded.
    async with saga_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO payment.payments (payment_id, idempotency_key, request_hash, order_id,"
            " customer_id, currency_code, amount_minor, captured_minor, status, payment_method)"
            " VALUES (%s, %s, 'h', %s, 'c', 'EUR', 1000, 1000, 'SUCCEEDED', 'pm_card_ok')",
            (uuid.uuid4(), f"{cancelled}:CHARGE_PAYMENT", cancelled))
    assert any("refunded 0" in p for p in await check(dbs, order_ids=[cancelled]))

    # Stock changed behind the ledger's back, and a hold left past its expiry.
    async with saga_pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE inventory.stock SET on_hand = on_hand + 1, reserved = 1"
                           " WHERE product_id = %s", (product,))
        await conn.execute("INSERT INTO inventory.reservations (order_id, status, items_hash,"
                           " expires_at) VALUES (%s, 'HELD', 'x', now() - interval '1 minute')",
                           (cancelled,))
        await conn.execute("INSERT INTO inventory.reservation_items (order_id, product_id,"
                           " quantity) VALUES (%s, %s, 1)", (cancelled, product))
    found = await check(dbs, order_ids=[cancelled], product_ids=[product])
    assert any("!= ledger" in p for p in found)
    assert any("past its expiry" in p for p in found)
    assert any("still holds stock" in p for p in found)
    # Clean up what other tests' global expiry check would see.
    async with saga_pool.connection() as conn:
        await conn.execute("UPDATE inventory.reservations SET status = 'RELEASED'"
                           " WHERE order_id = %s", (cancelled,))
