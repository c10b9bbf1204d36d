"""CancelOrder: flags the saga and records one OrderCancelRequested event."""

from __future__ import annotations

import grpc
import pytest
from shop.orders.v1 import orders_pb2 as pb

from svckit.rpcerrors import error_info
from tests.orders.conftest import OrdersHarness, rpc_error

pytestmark = pytest.mark.integration


async def test_cancel_is_recorded_once(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    order = (await harness.create(md, (product, 1))).order
    first = await harness.stub.CancelOrder(pb.CancelOrderRequest(order_id=order.order_id),
                                           metadata=md)
    second = await harness.stub.CancelOrder(pb.CancelOrderRequest(order_id=order.order_id),
                                            metadata=md)
    assert first.cancel_requested and second.cancel_requested
    assert first.order.status == pb.ORDER_STATUS_PENDING  # the saga compensates, then cancels
    saga = await harness.fetch(
        "SELECT cancel_requested, cancel_reason FROM orders.sagas WHERE order_id = %s",
        order.order_id)
    assert saga == [{"cancel_requested": True, "cancel_reason": "CUSTOMER_CANCELLED"}]
    events = await harness.fetch(
        "SELECT event_type FROM orders.outbox WHERE aggregate_id = %s ORDER BY created_at",
        order.order_id)
    assert [e["event_type"] for e in events] == ["OrderPlaced", "OrderCancelRequested"]


async def test_confirmed_order_cannot_be_cancelled(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    order = (await harness.create(md, (product, 1))).order
    await harness.fetch("UPDATE orders.orders SET status = 'CONFIRMED' WHERE order_id = %s"
                        " RETURNING 1", order.order_id)
    exc = await rpc_error(harness.stub.CancelOrder(
        pb.CancelOrderRequest(order_id=order.order_id), metadata=md))
    assert exc.code() is grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(exc)
    assert info is not None and info.reason == "ORDER_NOT_CANCELLABLE"
    events = await harness.fetch(
        "SELECT 1 FROM orders.outbox WHERE aggregate_id = %s AND event_type <> 'OrderPlaced'",
        order.order_id)
    assert events == []


async def test_cancelling_a_cancelled_order_returns_it(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    order = (await harness.create(md, (product, 1))).order
    await harness.fetch("UPDATE orders.orders SET status = 'CANCELLED',"
                        " cancel_reason = 'OUT_OF_STOCK' WHERE order_id = %s RETURNING 1",
                        order.order_id)
    reply = await harness.stub.CancelOrder(pb.CancelOrderRequest(order_id=order.order_id),
                                           metadata=md)
    assert reply.order.status == pb.ORDER_STATUS_CANCELLED
    assert reply.order.cancel_reason == "OUT_OF_STOCK" and not reply.cancel_requested
