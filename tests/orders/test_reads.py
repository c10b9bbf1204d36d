"""Reads: owners and admins only, pagination newest first without gaps or duplicates."""

from __future__ import annotations

import grpc
import pytest
from shop.orders.v1 import orders_pb2 as pb

from tests.orders.conftest import OrdersHarness, rpc_error

pytestmark = pytest.mark.integration


async def test_customers_see_only_their_orders_and_admins_see_all(
    harness: OrdersHarness,
) -> None:
    product = await harness.product()
    alice, bob = harness.customer(), harness.customer()
    a = (await harness.create(alice, (product, 1))).order
    b = (await harness.create(bob, (product, 2))).order
    # Alice cannot see Bob's order, not even its status or existence
    for rpc, req in ((harness.stub.GetOrder, pb.GetOrderRequest(order_id=b.order_id)),
                     (harness.stub.GetOrderStatus,
                      pb.GetOrderStatusRequest(order_id=b.order_id)),
                     (harness.stub.CancelOrder, pb.CancelOrderRequest(order_id=b.order_id))):
        exc = await rpc_error(rpc(req, metadata=alice))
        assert exc.code() is grpc.StatusCode.NOT_FOUND
    mine = await harness.stub.GetOrder(pb.GetOrderRequest(order_id=a.order_id), metadata=alice)
    assert mine.order == a
    # An admin sees both
    for order in (a, b):
        seen = await harness.stub.GetOrder(pb.GetOrderRequest(order_id=order.order_id),
                                           metadata=harness.admin())
        assert seen.order.customer_id == order.customer_id
    status = await harness.stub.GetOrderStatus(pb.GetOrderStatusRequest(order_id=a.order_id),
                                               metadata=alice)
    assert status.status == pb.ORDER_STATUS_PENDING and status.order_id == a.order_id
    listed = await harness.stub.ListOrders(pb.ListOrdersRequest(), metadata=alice)
    assert [o.order_id for o in listed.orders] == [a.order_id]
    exc = await rpc_error(harness.stub.ListOrders(
        pb.ListOrdersRequest(customer_id=b.customer_id), metadata=alice))
    assert exc.code() is grpc.StatusCode.PERMISSION_DENIED
    as_admin = await harness.stub.ListOrders(
        pb.ListOrdersRequest(customer_id=b.customer_id), metadata=harness.admin())
    assert [o.order_id for o in as_admin.orders] == [b.order_id]


async def test_malformed_ids_and_tokens_are_invalid(harness: OrdersHarness) -> None:
    md = harness.customer()
    exc = await rpc_error(harness.stub.GetOrder(pb.GetOrderRequest(order_id="x"), metadata=md))
    assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT
    exc = await rpc_error(harness.stub.ListOrders(pb.ListOrdersRequest(page_token="garbage!"),
                                                  metadata=md))
    assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_pagination_walks_every_order_once_newest_first(harness: OrdersHarness) -> None:
    # Given 23 orders, several committed in the same instant
    product = await harness.product()
    md = harness.customer()
    created = []
    for _ in range(23):
        created.append((await harness.create(md, (product, 1))).order.order_id)
    # Make ties on created_at: the keyset must still break them by id.
    await harness.fetch(
        "UPDATE orders.orders SET created_at = date_trunc('second', created_at)"
        " WHERE customer_id = (SELECT customer_id FROM orders.orders WHERE order_id = %s)"
        " RETURNING 1", created[0])
    # When walking pages of 5
    seen: list[pb.Order] = []
    token = ""
    pages = 0
    while True:
        page = await harness.stub.ListOrders(
            pb.ListOrdersRequest(page_size=5, page_token=token), metadata=md)
        assert len(page.orders) <= 5
        seen += page.orders
        pages += 1
        token = page.next_page_token
        if not token:
            break
    # Then every order comes exactly once, newest first
    assert pages == 5
    assert sorted(o.order_id for o in seen) == sorted(created)
    keys = [(o.created_at.ToDatetime(), o.order_id) for o in seen]
    assert keys == sorted(keys, reverse=True)


async def test_status_filter(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    a = (await harness.create(md, (product, 1))).order
    b = (await harness.create(md, (product, 1))).order
    await harness.fetch("UPDATE orders.orders SET status = 'CONFIRMED' WHERE order_id = %s"
                        " RETURNING 1", b.order_id)
    confirmed = await harness.stub.ListOrders(
        pb.ListOrdersRequest(status=pb.ORDER_STATUS_CONFIRMED), metadata=md)
    assert [o.order_id for o in confirmed.orders] == [b.order_id]
    pending = await harness.stub.ListOrders(
        pb.ListOrdersRequest(status=pb.ORDER_STATUS_PENDING, page_size=500), metadata=md)
    assert [o.order_id for o in pending.orders] == [a.order_id]
