"""Real races against PostgreSQL: no oversell, one hold per order id."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from tests.inventory.conftest import InventoryClient

pytestmark = pytest.mark.integration


async def test_fifty_one_unit_reservations_against_ten(client: InventoryClient) -> None:
    # Given a product with 10 units
    pid = await client.new_product(stock=10)

    async def reserve() -> bool:
        try:
            await client.stub.ReserveStock(
                pb.ReserveStockRequest(
                    order_id=str(uuid.uuid4()),
                    items=[pb.ReservationItem(product_id=pid, quantity=1)],
                ),
                metadata=client.service,
            )
            return True
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            return False

    # When 50 orders race for one unit each
    results = await asyncio.gather(*(reserve() for _ in range(50)))
    # Then exactly 10 hold a unit and nothing is negative
    assert sum(results) == 10
    stock = await client.stock(pid)
    assert (stock.on_hand, stock.reserved, stock.available) == (10, 10, 0)


async def test_same_order_reserved_concurrently_holds_once(client: InventoryClient) -> None:
    pid = await client.new_product(stock=100)
    order = str(uuid.uuid4())
    request = pb.ReserveStockRequest(
        order_id=order, items=[pb.ReservationItem(product_id=pid, quantity=3)]
    )
    replies = await asyncio.gather(
        *(client.stub.ReserveStock(request, metadata=client.service) for _ in range(20))
    )
    assert {r.reservation.create_time.ToNanoseconds() for r in replies} == {
        replies[0].reservation.create_time.ToNanoseconds()
    }
    assert (await client.stock(pid)).reserved == 3


async def test_crossing_multi_item_orders_do_not_deadlock(client: InventoryClient) -> None:
    a, b = await client.new_product(stock=100), await client.new_product(stock=100)

    async def reserve(first: str, second: str) -> None:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(
                order_id=str(uuid.uuid4()),
                items=[
                    pb.ReservationItem(product_id=first, quantity=1),
                    pb.ReservationItem(product_id=second, quantity=1),
                ],
            ),
            metadata=client.service,
            timeout=10,
        )

    await asyncio.gather(*(reserve(a, b) if i % 2 else reserve(b, a) for i in range(40)))
    assert (await client.stock(a)).reserved == (await client.stock(b)).reserved == 40
