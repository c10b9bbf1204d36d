"""WatchOrder: every status change made elsewhere, in order, ending at a terminal status."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from shop.orders.v1 import orders_pb2 as pb

from tests.orders.conftest import OrdersHarness, rpc_error

pytestmark = pytest.mark.integration


async def _set_status(harness: OrdersHarness, order_id: str, status: str) -> None:
    # Another connection, as the saga worker would do it.
    await harness.fetch("UPDATE orders.orders SET status = %s, updated_at = now()"
                        " WHERE order_id = %s RETURNING 1", status, order_id)


async def test_watch_streams_changes_until_terminal(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    order = (await harness.create(md, (product, 1))).order
    stream = harness.stub.WatchOrder(pb.WatchOrderRequest(order_id=order.order_id), metadata=md)
    received: list[int] = []
    async with asyncio.timeout(5):
        received.append((await stream.read()).status)
        # Each change is made by another connection once the previous one was seen.
        for status in ("PROCESSING", "CONFIRMED"):
            await _set_status(harness, order.order_id, status)
            received.append((await stream.read()).status)
        # the stream ends by itself at CONFIRMED
        assert await stream.read() is grpc.aio.EOF
    assert received == [pb.ORDER_STATUS_PENDING, pb.ORDER_STATUS_PROCESSING,
                        pb.ORDER_STATUS_CONFIRMED]
    assert harness.feed.watching == 0


async def test_many_watchers_share_one_feed(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    order = (await harness.create(md, (product, 1))).order
    streams = [harness.stub.WatchOrder(pb.WatchOrderRequest(order_id=order.order_id),
                                       metadata=md) for _ in range(20)]
    firsts = [await s.read() for s in streams]
    assert {f.status for f in firsts} == {pb.ORDER_STATUS_PENDING}
    assert harness.feed.watching == 20
    await harness.fetch("UPDATE orders.orders SET status = 'CANCELLED',"
                        " cancel_reason = 'OUT_OF_STOCK' WHERE order_id = %s RETURNING 1",
                        order.order_id)
    async with asyncio.timeout(5):
        lasts = [await s.read() for s in streams]
    assert {(x.status, x.cancel_reason) for x in lasts} == {
        (pb.ORDER_STATUS_CANCELLED, "OUT_OF_STOCK")}


async def test_watching_someone_elses_order_is_not_found(harness: OrdersHarness) -> None:
    product = await harness.product()
    order = (await harness.create(harness.customer(), (product, 1))).order
    stream = harness.stub.WatchOrder(pb.WatchOrderRequest(order_id=order.order_id),
                                     metadata=harness.customer())
    exc = await rpc_error(stream.read())
    assert exc.code() is grpc.StatusCode.NOT_FOUND


async def test_poll_fallback_delivers_without_notifications(harness: OrdersHarness) -> None:
    from orchestrator.watch import StatusFeed

    # Given a feed whose LISTEN connection can never connect (the poll alone must do)
    product = await harness.product()
    order = (await harness.create(harness.customer(), (product, 1))).order
    feed = StatusFeed(harness.pool, "postgresql://nobody@127.0.0.1:1/none", poll_interval=0.1)
    try:
        async with feed.subscribe(order.order_id) as queue:
            await _set_status(harness, order.order_id, "PROCESSING")
            seen = ""
            async with asyncio.timeout(5):
                while seen != "PROCESSING":
                    seen = (await queue.get()).status.value
    finally:
        await feed.stop()
