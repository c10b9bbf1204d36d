"""Through the front door: OrderService (order API), the outbox relay, the saga worker and the
three services, all real processes. An order placed over gRPC is confirmed within seconds and
WatchOrder streams its status changes; CancelOrder compensates a saga in flight."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc

from orchestrator.saga import invariants
from orchestrator.saga.breaker import KEY_PREFIX
from tests.saga.stack import Stack
from tests.saga.test_flows import settle
from tests.support import bearer

pytestmark = pytest.mark.e2e

TERMINAL = (pb.ORDER_STATUS_CONFIRMED, pb.ORDER_STATUS_CANCELLED, pb.ORDER_STATUS_FAILED)


@pytest.fixture
async def front(stack: Stack, redis: Redis) -> Stack:
    for key in await redis.keys(KEY_PREFIX + "*"):
        await redis.delete(key)
    if not any(p.name == "orders-api" for p in stack.procs):
        stack.start_front()
    stack.ensure_worker()
    return stack


def _customer(stack: Stack) -> list[tuple[str, str]]:
    subject = f"cust-{uuid.uuid4().hex[:10]}"
    return bearer(stack.secret, "customer", subject, email=f"{subject}@example.com")


async def test_order_placed_over_grpc_is_confirmed_and_watched(
        front: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await front.new_product(5)
    who = _customer(front)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{front.ports['orders']}") as ch:
        orders = pb_grpc.OrderServiceStub(ch)
        started = time.monotonic()
        created = await orders.CreateOrder(pb.CreateOrderRequest(
            items=[pb.OrderLine(product_id=product, quantity=2)]), metadata=who, timeout=10)
        order_id = created.order.order_id
        seen = []
        async for change in orders.WatchOrder(pb.WatchOrderRequest(order_id=order_id),
                                              metadata=who, timeout=15):
            seen.append(change.status)
            if change.status in TERMINAL:
                break
        elapsed = time.monotonic() - started

    print(f"accept→CONFIRMED {elapsed:.3f}s, statuses {seen}")
    assert seen[-1] == pb.ORDER_STATUS_CONFIRMED
    assert seen == sorted(seen)  # PENDING → PROCESSING → CONFIRMED, never backwards
    assert elapsed < 5.0
    assert await invariants.check(invariants.Databases.single(front.database_url),
                                  order_ids=[order_id], product_ids=[product]) == []


async def test_cancel_order_over_grpc_compensates_a_saga_in_flight(
        front: Stack, saga_pool: AsyncConnectionPool) -> None:
    product = await front.new_product(5)
    who = _customer(front)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{front.ports['orders']}") as ch:
        orders = pb_grpc.OrderServiceStub(ch)
        # The gateway is down for this card: the saga keeps retrying the charge.
        created = await orders.CreateOrder(pb.CreateOrderRequest(
            items=[pb.OrderLine(product_id=product, quantity=1)],
            payment_method="pm_card_unavailable"), metadata=who, timeout=10)
        order_id = created.order.order_id
        await orders.CancelOrder(pb.CancelOrderRequest(order_id=order_id), metadata=who,
                                 timeout=10)

    result = await settle(saga_pool, [order_id], timeout=20)
    assert result[order_id] == ("CANCELLED", "CUSTOMER_CANCELLED")
    stock = await front.stock(product)
    assert (stock.on_hand, stock.reserved) == (5, 0)
    assert await invariants.check(invariants.Databases.single(front.database_url),
                                  order_ids=[order_id], product_ids=[product]) == []
