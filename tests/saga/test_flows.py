"""Sagas end to end: the real worker process, inventory, payment and notify processes,
PostgreSQL and Redis. Every scenario ends with the SPEC §8 invariant checker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.saga import invariants
from orchestrator.saga.breaker import KEY_PREFIX
from tests.saga.orders import Line, place_order, rows, saga, steps
from tests.saga.stack import Stack, wait_until

pytestmark = pytest.mark.integration


async def settle(pool: AsyncConnectionPool, order_ids: list[str], timeout: float = 20.0
                 ) -> dict[str, tuple[str, str | None]]:
    """Waits until every order is terminal; {order_id: (status, cancel_reason)}."""
    found: dict[str, tuple[str, str | None]] = {}

    async def terminal() -> bool:
        for r in await rows(pool, "SELECT order_id, status, cancel_reason FROM orders.orders"
                            " WHERE order_id = ANY(%s::uuid[])", order_ids):
            found[str(r["order_id"])] = (r["status"], r["cancel_reason"])
        return all(found.get(o, ("",))[0] in ("CONFIRMED", "CANCELLED", "FAILED")
                   for o in order_ids)

    await wait_until(terminal, timeout)
    return found


async def check(stack: Stack, order_ids: list[str], product_ids: list[str]) -> None:
    problems = await invariants.check(invariants.Databases.single(stack.database_url),
                                      order_ids=order_ids, product_ids=product_ids)
    assert problems == []


@pytest.fixture
async def worker(stack: Stack, redis: Redis) -> Stack:
    """The default worker, with every breaker closed."""
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    stack.ensure_worker()
    return stack


async def test_happy_path_multi_item(worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    # Given two products and three orders, one of them with both products
    a, b = await worker.new_product(20, 1250), await worker.new_product(20, 399)
    orders = [
        await place_order(saga_pool, [Line(a, 2, 1250), Line(b, 3, 399)]),
        await place_order(saga_pool, [Line(a, 1, 1250)]),
        await place_order(saga_pool, [Line(b, 5, 399)]),
    ]
    # When the relay's messages arrive
    for order_id in orders:
        worker.send(order_id)
    # Then every order is confirmed, stock sold, paid once, confirmed by email once
    result = await settle(saga_pool, orders)
    assert {s for s, _ in result.values()} == {"CONFIRMED"}
    stock_a, stock_b = await worker.stock(a), await worker.stock(b)
    assert (stock_a.on_hand, stock_a.reserved) == (17, 0)
    assert (stock_b.on_hand, stock_b.reserved) == (12, 0)
    emails = await rows(saga_pool, "SELECT order_id FROM notify.notifications"
                        " WHERE order_id = ANY(%s) AND template = 'ORDER_CONFIRMED'", orders)
    assert sorted(r["order_id"] for r in emails) == sorted(orders)
    await check(worker, orders, [a, b])


async def test_out_of_stock_and_declined_cancel(worker: Stack,
                                                saga_pool: AsyncConnectionPool) -> None:
    scarce = await worker.new_product(1)
    plenty = await worker.new_product(50)
    too_many = await place_order(saga_pool, [Line(plenty, 1), Line(scarce, 2)])
    declined = await place_order(saga_pool, [Line(plenty, 4)], method="pm_card_declined")
    fraud = await place_order(saga_pool, [Line(plenty, 1)], method="pm_card_fraud")
    for order_id in (too_many, declined, fraud):
        worker.send(order_id)

    result = await settle(saga_pool, [too_many, declined, fraud])

    assert result[too_many] == ("CANCELLED", "OUT_OF_STOCK")
    assert result[declined] == ("CANCELLED", "PAYMENT_DECLINED")
    assert result[fraud] == ("CANCELLED", "FRAUD_SUSPECTED")
    stock = await worker.stock(plenty)
    assert (stock.on_hand, stock.reserved) == (50, 0)  # holds released, nothing sold
    await check(worker, [too_many, declined, fraud], [scarce, plenty])


async def test_flaky_payment_confirms_after_retries_with_one_charge(
        worker: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await worker.new_product(10)
    order_id = await place_order(saga_pool, [Line(product, 2)], method="pm_card_flaky")
    worker.send(order_id)

    assert (await settle(saga_pool, [order_id]))[order_id] == ("CONFIRMED", None)

    charge_log = [o for st, _, o in await steps(saga_pool, order_id) if st == "CHARGE_PAYMENT"]
    assert charge_log == ["RETRY", "RETRY", "OK"]
    payments = await rows(saga_pool, "SELECT status FROM payment.payments WHERE order_id = %s",
                          order_id)
    assert [p["status"] for p in payments] == ["SUCCEEDED"]
    await check(worker, [order_id], [product])
