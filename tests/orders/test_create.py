"""CreateOrder: priced by inventory, one transaction, field violations for bad input."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from shop.orders.v1 import orders_pb2 as pb

from orchestrator import store
from svckit.rpcerrors import details_of, error_info
from tests.orders.conftest import OrdersHarness, rpc_error

pytestmark = pytest.mark.integration


def violations(exc: grpc.aio.AioRpcError) -> list[str]:
    status = details_of(exc)
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_order_is_priced_by_the_catalog_and_written_with_saga_and_event(
    harness: OrdersHarness,
) -> None:
    # Given two catalog products
    a, b = await harness.product(1250), await harness.product(399)
    # When a customer orders 3 of one and 2 of the other
    call = harness.stub.CreateOrder(
        pb.CreateOrderRequest(items=[pb.OrderLine(product_id=a, quantity=3),
                                     pb.OrderLine(product_id=b, quantity=2)]),
        metadata=harness.customer(locale="es"),
    )
    reply = await call
    order = reply.order
    # Then the order is PENDING with catalog prices and an exact total
    assert order.status == pb.ORDER_STATUS_PENDING
    assert order.total.amount_minor == 3 * 1250 + 2 * 399 and order.total.amount == "45.48"
    assert {(i.product_id, i.unit_price.amount_minor, i.quantity) for i in order.items} == {
        (a, 1250, 3), (b, 399, 2)}
    assert order.payment_method == "pm_card_ok"
    assert order.locale == "es" and order.contact_email == "buyer@example.com"
    # And the HTTP front is told to answer 202 with a Location
    headers = dict(await call.initial_metadata())
    assert headers["x-http-code"] == "202"
    assert headers["location"] == f"/api/v1/orders/{order.order_id}"
    assert "idempotent-replayed" not in headers
    # And the saga row and the OrderPlaced event were written with it
    saga = await harness.fetch(
        "SELECT status, current_step, cancel_requested,"
        " deadline_at - created_at AS budget FROM orders.sagas WHERE order_id = %s",
        order.order_id)
    assert saga[0]["status"] == "RUNNING" and saga[0]["current_step"] == "RESERVE_STOCK"
    assert 590 <= saga[0]["budget"].total_seconds() <= 610
    events = await harness.fetch(
        "SELECT event_type, sent_at FROM orders.outbox WHERE aggregate_id = %s", order.order_id)
    assert [e["event_type"] for e in events] == ["OrderPlaced"]


async def test_client_cannot_send_a_price() -> None:
    # The request line has no field a price could travel in.
    assert set(pb.OrderLine.DESCRIPTOR.fields_by_name) == {"product_id", "quantity"}
    assert "total" not in pb.CreateOrderRequest.DESCRIPTOR.fields_by_name


async def test_unknown_and_inactive_products_are_named(harness: OrdersHarness) -> None:
    good = await harness.product()
    inactive = await harness.product(active=False)
    exc = await rpc_error(harness.create(
        harness.customer(), (good, 1), (str(uuid.uuid4()), 1), (inactive, 2)))
    assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(exc) == ["items[1].product_id", "items[2].product_id"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], ["items"]),
        ([("not-a-uuid", 1)], ["items[0].product_id"]),
        ([("P", 0)], ["items[0].quantity"]),
        ([("P", 1001)], ["items[0].quantity"]),
        ([("P", 1), ("P", 2)], ["items[1].product_id"]),
    ],
)
async def test_bad_lines_are_rejected_with_field_violations(
    harness: OrdersHarness, lines: list[tuple[str, int]], expected: list[str]
) -> None:
    product = await harness.product()
    md = harness.customer()
    exc = await rpc_error(harness.create(md, *[(product if p == "P" else p, q)
                                               for p, q in lines]))
    assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(exc) == expected


async def test_more_than_fifty_products_is_invalid(harness: OrdersHarness) -> None:
    lines = [(str(uuid.uuid4()), 1) for _ in range(51)]
    exc = await rpc_error(harness.create(harness.customer(), *lines))
    assert violations(exc) == ["items"]


async def test_bad_optional_fields_are_named(harness: OrdersHarness) -> None:
    product = await harness.product()
    exc = await rpc_error(harness.create(
        harness.customer(), (product, 1), callback_url="ftp://x", contact_email="nope",
        locale="english please"))
    assert violations(exc) == ["locale", "contact_email", "callback_url"]


async def test_failure_after_the_order_insert_leaves_nothing(
    harness: OrdersHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the saga insert fails after the order and its items were sent in the transaction
    seen: list[uuid.UUID] = []

    async def broken_saga(conn: object, order_id: uuid.UUID, deadline: float) -> None:
        seen.append(order_id)
        raise RuntimeError("injected failure")

    monkeypatch.setattr(store, "insert_saga", broken_saga)
    product = await harness.product()
    # When an order is placed
    exc = await rpc_error(harness.create(harness.customer(), (product, 1), key="k-fail"))
    # Then the caller gets INTERNAL and no trace of the order exists
    assert exc.code() is grpc.StatusCode.INTERNAL
    (order_id,) = seen
    for table, column in (("orders", "order_id"), ("order_items", "order_id"),
                          ("sagas", "order_id"), ("outbox", "aggregate_id"),
                          ("idempotency_keys", "order_id")):
        rows = await harness.fetch(f"SELECT 1 FROM orders.{table} WHERE {column} = %s", order_id)
        assert rows == [], table


async def test_only_customers_and_admins_place_orders(harness: OrdersHarness) -> None:
    from tests.support import bearer

    product = await harness.product()
    exc = await rpc_error(harness.create(bearer(harness.secret, "service", "x"), (product, 1)))
    assert exc.code() is grpc.StatusCode.PERMISSION_DENIED
    exc = await rpc_error(harness.create([], (product, 1)))
    assert exc.code() is grpc.StatusCode.UNAUTHENTICATED
    admin_order = await harness.create(harness.admin(), (product, 1))
    assert admin_order.order.customer_id == "admin-1"


async def test_inventory_down_is_unavailable_with_retry_info(harness: OrdersHarness,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from orchestrator.domain import CatalogUnavailable

    async def down(ids: list[str]) -> None:
        raise CatalogUnavailable("catalog: UNAVAILABLE")

    monkeypatch.setattr(harness.orders.catalog, "_fetch", down)
    exc = await rpc_error(harness.create(harness.customer(), (str(uuid.uuid4()), 1)))
    assert exc.code() is grpc.StatusCode.UNAVAILABLE
    info = error_info(exc)
    assert info is not None and info.reason == "CATALOG_UNAVAILABLE"
