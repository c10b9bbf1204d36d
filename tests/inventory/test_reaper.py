"""The reaper gives expired holds back, and only expired ones."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from inventory_svc.handlers import Inventory
from tests.inventory.conftest import InventoryClient

pytestmark = pytest.mark.integration


async def test_reaper_releases_expired_holds(client: InventoryClient, inventory: Inventory) -> None:
    pid = await client.new_product(stock=5)
    short, long = str(uuid.uuid4()), str(uuid.uuid4())
    for order, ttl in ((short, 1), (long, 600)):
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(
                order_id=order,
                items=[pb.ReservationItem(product_id=pid, quantity=2)],
                ttl_seconds=ttl,
            ),
            metadata=client.service,
        )
    await asyncio.sleep(1.1)
    released = 0
    while (batch := await inventory.reap_expired()) > 0:  # drain: batches of 100
        released += batch
    assert released >= 1  # at least our hold (other tests' expired holds may be reaped too)
    reservation = await client.stub.GetReservation(
        pb.GetReservationRequest(order_id=short), metadata=client.service
    )
    assert reservation.reservation.status == pb.RESERVATION_STATUS_EXPIRED
    kept = await client.stub.GetReservation(
        pb.GetReservationRequest(order_id=long), metadata=client.service
    )
    assert kept.reservation.status == pb.RESERVATION_STATUS_HELD
    assert (await client.stock(pid)).reserved == 2
