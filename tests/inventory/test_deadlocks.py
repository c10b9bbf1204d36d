"""Reservations, commits, releases and the reaper racing over the same stock rows never deadlock.

Every path that changes stock locks its rows in product-id order first; without that, an UPDATE
joined with unnest() locks rows in physical order and two transactions can wait on each other.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from inventory_svc.handlers import Inventory
from tests.inventory.conftest import InventoryClient

pytestmark = pytest.mark.integration


async def test_mixed_stock_traffic_on_shared_rows_has_no_deadlock(
    client: InventoryClient, inventory: Inventory
) -> None:
    # Given a few products that every order touches, in varying order
    products = [await client.new_product(stock=100_000) for _ in range(4)]
    rng = random.Random(7)
    # Scramble the rows' physical order with updates, as a busy table has
    for pid in rng.sample(products, len(products)):
        await client.stub.AdjustStock(
            pb.AdjustStockRequest(product_id=pid, delta=1, reason="shuffle"), metadata=client.admin
        )
    errors: list[grpc.StatusCode] = []
    in_flight = asyncio.Semaphore(16)  # below the pool size: waits are for locks, not connections

    async def one_order(n: int) -> None:
        async with in_flight:
            await _order(n)

    async def _order(n: int) -> None:
        order = str(uuid.uuid4())
        items = [pb.ReservationItem(product_id=p, quantity=1) for p in rng.sample(products, 4)]
        try:
            await client.stub.ReserveStock(
                pb.ReserveStockRequest(
                    order_id=order, items=items, ttl_seconds=1 if n % 5 == 0 else 0
                ),
                metadata=client.service,
            )
            if n % 3 == 0:
                await client.stub.ReleaseReservation(
                    pb.ReleaseReservationRequest(order_id=order), metadata=client.service
                )
            elif n % 5 != 0:
                await client.stub.CommitReservation(
                    pb.CommitReservationRequest(order_id=order), metadata=client.service
                )
                if n % 2 == 0:
                    await client.stub.RestockReservation(
                        pb.RestockReservationRequest(order_id=order), metadata=client.service
                    )
        except grpc.aio.AioRpcError as err:
            errors.append(err.code())

    async def reaper() -> None:
        for _ in range(30):
            await inventory.reap_expired()
            await asyncio.sleep(0.05)

    # When several hundred sagas' worth of calls race, with the reaper running
    await asyncio.gather(reaper(), *(one_order(n) for n in range(300)))

    # Then no call failed (a deadlock would surface as ABORTED or UNAVAILABLE)
    assert errors == []
