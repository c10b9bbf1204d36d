"""A charge whose reply was lost is refunded once it lands, even if the saga is already undoing."""

from __future__ import annotations

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from orchestrator.saga.breaker import KEY_PREFIX
from tests.saga.orders import Line, place_order, rows
from tests.saga.stack import Stack
from tests.saga.test_flows import check, settle

pytestmark = pytest.mark.integration


async def test_charge_still_in_flight_at_the_deadline_is_refunded_when_it_lands(
        stack: Stack, redis: Redis, saga_pool: AsyncConnectionPool) -> None:
    # Given a gateway that takes 5 s per charge, calls that give up after 1.4 s, and a saga
    # deadline of 2 s: the charge is still running on the gateway when the saga compensates
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    slow, port = stack.start_payment("slow-payment", PAYMENT_LATENCY_MS="5000")
    try:
        stack.ensure_worker(PAYMENT_ADDR=f"127.0.0.1:{port}")
        product = await stack.new_product(5)
        order_id = await place_order(saga_pool, [Line(product, 1)], deadline=2.0)
        stack.send(order_id)

        # When the saga times out and the charge lands afterwards
        result = await settle(saga_pool, [order_id], timeout=30)

        # Then the order is cancelled, and the capture that landed late has been refunded
        assert result[order_id] == ("CANCELLED", "PROCESSING_TIMEOUT")
        payments = await rows(saga_pool, "SELECT status, captured_minor, refunded_minor FROM"
                              " payment.payments WHERE order_id = %s", order_id)
        assert [p["status"] for p in payments] == ["REFUNDED"]
        await check(stack, [order_id], [product])
    finally:
        stack.stop_worker()
        slow.stop()
