"""Idempotency keys: scoped to the caller, hash-checked, one order under a race."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from shop.orders.v1 import orders_pb2 as pb

from svckit.rpcerrors import error_info
from tests.orders.conftest import OrdersHarness, rpc_error

pytestmark = pytest.mark.integration


async def test_fifty_concurrent_requests_with_one_key_make_one_order(
    harness: OrdersHarness,
) -> None:
    # Given one customer, one product and one idempotency key
    product = await harness.product(990)
    md = [*harness.customer(), ("idempotency-key", f"race-{uuid.uuid4()}")]
    request = pb.CreateOrderRequest(items=[pb.OrderLine(product_id=product, quantity=2)])
    # When 50 identical requests race
    calls = [harness.stub.CreateOrder(request, metadata=md) for _ in range(50)]
    replies = await asyncio.gather(*calls)
    headers = [dict(await call.initial_metadata()) for call in calls]
    # Then every answer is the same order, and all but one say they were replayed
    orders = {reply.order.SerializeToString(deterministic=True) for reply in replies}
    assert len(orders) == 1
    assert sum(reply.idempotent_replayed for reply in replies) == 49
    assert sum(h.get("idempotent-replayed") == "true" for h in headers) == 49
    order_id = replies[0].order.order_id
    # And there is exactly one order, one saga and one OrderPlaced event
    customer = replies[0].order.customer_id
    assert len(await harness.fetch("SELECT 1 FROM orders.orders WHERE customer_id = %s",
                                   customer)) == 1
    assert len(await harness.fetch("SELECT 1 FROM orders.sagas WHERE order_id = %s",
                                   order_id)) == 1
    assert len(await harness.fetch("SELECT 1 FROM orders.outbox WHERE aggregate_id = %s",
                                   order_id)) == 1


async def test_same_key_different_request_is_refused(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    first = await harness.create(md, (product, 1), key="k1")
    exc = await rpc_error(harness.create(md, (product, 2), key="k1"))
    assert exc.code() is grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(exc)
    assert info is not None and info.reason == "IDEMPOTENCY_KEY_REUSED"
    # the original still replays
    again = await harness.create(md, (product, 1), key="k1")
    assert again.order.order_id == first.order.order_id and again.idempotent_replayed


async def test_replay_with_a_refreshed_token_still_matches(harness: OrdersHarness) -> None:
    # The defaults taken from the token (email, locale) are not part of the request's hash.
    product = await harness.product()
    first = await harness.create(harness.customer("carol", email="old@example.com"),
                                 (product, 1), key="refresh")
    again = await harness.create(harness.customer("carol", email="new@example.com"),
                                 (product, 1), key="refresh")
    assert again.idempotent_replayed and again.order.order_id == first.order.order_id


async def test_same_key_from_another_customer_is_another_order(harness: OrdersHarness) -> None:
    product = await harness.product()
    a = await harness.create(harness.customer(), (product, 1), key="shared-key")
    b = await harness.create(harness.customer(), (product, 1), key="shared-key")
    assert a.order.order_id != b.order.order_id
    assert not a.idempotent_replayed and not b.idempotent_replayed


async def test_key_in_the_request_body_and_no_key(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    a = await harness.create(md, (product, 1), idempotency_key="body-key")
    b = await harness.create(md, (product, 1), idempotency_key="body-key")
    assert b.idempotent_replayed and b.order.order_id == a.order.order_id
    # without a key every request is a new order
    c = await harness.create(md, (product, 1))
    d = await harness.create(md, (product, 1))
    assert len({a.order.order_id, c.order.order_id, d.order.order_id}) == 3


async def test_keys_are_purged_after_the_retention(harness: OrdersHarness) -> None:
    product = await harness.product()
    md = harness.customer()
    first = await harness.create(md, (product, 1), key="old-key")
    await harness.fetch(
        "UPDATE orders.idempotency_keys SET created_at = now() - interval '25 hours'"
        " WHERE order_id = %s RETURNING 1", first.order.order_id)
    assert await harness.orders.purge_keys(24 * 3600.0) >= 1
    again = await harness.create(md, (product, 1), key="old-key")
    assert again.order.order_id != first.order.order_id
