"""Every InventoryService RPC and error through a real gRPC server."""

from __future__ import annotations

import uuid

import grpc
import pytest
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as pb

from svckit.rpcerrors import details_of, error_info
from tests.inventory.conftest import InventoryClient

pytestmark = pytest.mark.integration


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    from google.rpc import error_details_pb2

    status = details_of(error)
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_create_and_read_product(client: InventoryClient) -> None:
    pid = await client.new_product(stock=7, price=1999)
    got = await client.stub.GetProduct(pb.GetProductRequest(product_id=pid))
    assert got.product.price.amount_minor == 1999
    assert got.product.price.amount == "19.99"
    assert got.product.available == 7
    stock = await client.stock(pid)
    assert (stock.on_hand, stock.reserved, stock.available) == (7, 0, 7)


async def test_catalog_reads_are_public_and_paginated(client: InventoryClient) -> None:
    for _ in range(3):
        await client.new_product()
    seen: list[str] = []
    token = ""
    while True:
        page = await client.stub.ListProducts(pb.ListProductsRequest(page_size=2, page_token=token))
        seen += [p.product_id for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 3


async def test_list_filters_by_text_and_active(client: InventoryClient) -> None:
    pid = await client.new_product(active=False)
    sku = (await client.stub.GetProduct(pb.GetProductRequest(product_id=pid))).product.sku
    found = await client.stub.ListProducts(pb.ListProductsRequest(query=sku, active=False))
    assert [p.product_id for p in found.products] == [pid]
    none = await client.stub.ListProducts(pb.ListProductsRequest(query=sku, active=True))
    assert list(none.products) == []


async def test_writes_need_admin(client: InventoryClient) -> None:
    request = pb.CreateProductRequest(
        sku="X-1", name="x", price=money_pb2.Money(currency_code="EUR", amount_minor=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await client.stub.CreateProduct(request, metadata=client.customer)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await client.stub.CreateProduct(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_duplicate_sku_is_already_exists(client: InventoryClient) -> None:
    pid = await client.new_product()
    sku = (await client.stub.GetProduct(pb.GetProductRequest(product_id=pid))).product.sku
    with pytest.raises(grpc.aio.AioRpcError) as dup:
        await client.stub.CreateProduct(
            pb.CreateProductRequest(
                sku=sku, name="again", price=money_pb2.Money(currency_code="EUR", amount_minor=5)
            ),
            metadata=client.admin,
        )
    assert dup.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(dup.value).reason == "SKU_ALREADY_EXISTS"  # type: ignore[union-attr]


async def test_invalid_product_names_every_field(client: InventoryClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await client.stub.CreateProduct(
            pb.CreateProductRequest(
                sku="", name="", price=money_pb2.Money(currency_code="XXX", amount_minor=0)
            ),
            metadata=client.admin,
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_violations(bad.value)) >= {
        "sku",
        "name",
        "price.currency_code",
        "price.amount_minor",
    }


async def test_update_product(client: InventoryClient) -> None:
    pid = await client.new_product()
    updated = await client.stub.UpdateProduct(
        pb.UpdateProductRequest(product_id=pid, name="Renamed", active=False),
        metadata=client.admin,
    )
    assert (updated.product.name, updated.product.active) == ("Renamed", False)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await client.stub.UpdateProduct(
            pb.UpdateProductRequest(product_id=str(uuid.uuid4()), name="x"), metadata=client.admin
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_adjust_stock_never_below_reserved(client: InventoryClient) -> None:
    pid = await client.new_product(stock=5)
    await client.stub.ReserveStock(
        pb.ReserveStockRequest(
            order_id=str(uuid.uuid4()), items=[pb.ReservationItem(product_id=pid, quantity=3)]
        ),
        metadata=client.service,
    )
    with pytest.raises(grpc.aio.AioRpcError) as low:
        await client.stub.AdjustStock(
            pb.AdjustStockRequest(product_id=pid, delta=-3, reason="damaged"),
            metadata=client.admin,
        )
    assert low.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(low.value).reason == "INSUFFICIENT_STOCK"  # type: ignore[union-attr]
    ok = await client.stub.AdjustStock(
        pb.AdjustStockRequest(product_id=pid, delta=-2, reason="damaged"), metadata=client.admin
    )
    assert (ok.stock.on_hand, ok.stock.reserved, ok.stock.available) == (3, 3, 0)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await client.stub.AdjustStock(
            pb.AdjustStockRequest(product_id=pid, delta=0, reason=""), metadata=client.admin
        )
    assert set(_violations(bad.value)) == {"delta", "reason"}


async def test_movements_ledger_records_every_change(client: InventoryClient) -> None:
    pid = await client.new_product(stock=4)
    order = str(uuid.uuid4())
    items = [pb.ReservationItem(product_id=pid, quantity=2)]
    await client.stub.ReserveStock(
        pb.ReserveStockRequest(order_id=order, items=items), metadata=client.service
    )
    await client.stub.CommitReservation(
        pb.CommitReservationRequest(order_id=order), metadata=client.service
    )
    await client.stub.RestockReservation(
        pb.RestockReservationRequest(order_id=order, reason="refund"), metadata=client.service
    )
    page = await client.stub.ListMovements(
        pb.ListMovementsRequest(product_id=pid), metadata=client.admin
    )
    kinds = [pb.MovementKind.Name(m.kind) for m in page.movements]
    assert kinds == [
        "MOVEMENT_KIND_RESTOCK",
        "MOVEMENT_KIND_SALE",
        "MOVEMENT_KIND_RESERVE",
        "MOVEMENT_KIND_INITIAL",
    ]
    assert sum(m.on_hand_delta for m in page.movements) == (await client.stock(pid)).on_hand == 4
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await client.stub.ListMovements(
            pb.ListMovementsRequest(product_id=pid), metadata=client.customer
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_reserve_commit_release_lifecycle(client: InventoryClient) -> None:
    a, b = await client.new_product(stock=5), await client.new_product(stock=5)
    order = str(uuid.uuid4())
    items = [
        pb.ReservationItem(product_id=a, quantity=2),
        pb.ReservationItem(product_id=b, quantity=5),
    ]
    held = await client.stub.ReserveStock(
        pb.ReserveStockRequest(order_id=order, items=items), metadata=client.service
    )
    assert held.reservation.status == pb.RESERVATION_STATUS_HELD
    assert (await client.stock(b)).available == 0
    # Same order id, same items: the original hold, nothing reserved twice.
    again = await client.stub.ReserveStock(
        pb.ReserveStockRequest(order_id=order, items=list(reversed(items))), metadata=client.service
    )
    assert again.reservation.create_time == held.reservation.create_time
    assert (await client.stock(a)).reserved == 2
    # Same order id, other items: refused.
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(order_id=order, items=items[:1]), metadata=client.service
        )
    assert error_info(conflict.value).reason == "RESERVATION_CONFLICT"  # type: ignore[union-attr]
    committed = await client.stub.CommitReservation(
        pb.CommitReservationRequest(order_id=order), metadata=client.service
    )
    assert committed.reservation.status == pb.RESERVATION_STATUS_COMMITTED
    await client.stub.CommitReservation(
        pb.CommitReservationRequest(order_id=order), metadata=client.service
    )
    sa, sb = await client.stock(a), await client.stock(b)
    assert (sa.on_hand, sa.reserved, sb.on_hand, sb.reserved) == (3, 0, 0, 0)


async def test_release_is_idempotent_and_frees_stock(client: InventoryClient) -> None:
    pid = await client.new_product(stock=3)
    order = str(uuid.uuid4())
    await client.stub.ReserveStock(
        pb.ReserveStockRequest(
            order_id=order, items=[pb.ReservationItem(product_id=pid, quantity=3)]
        ),
        metadata=client.service,
    )
    for _ in range(2):
        released = await client.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(order_id=order), metadata=client.service
        )
        assert released.reservation.status == pb.RESERVATION_STATUS_RELEASED
    assert (await client.stock(pid)).available == 3


@pytest.mark.parametrize(
    ("quantity", "stock", "reason"),
    [(4, 3, "OUT_OF_STOCK")],
)
async def test_out_of_stock_holds_nothing(
    client: InventoryClient, quantity: int, stock: int, reason: str
) -> None:
    plenty, scarce = await client.new_product(stock=10), await client.new_product(stock=stock)
    with pytest.raises(grpc.aio.AioRpcError) as oos:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(
                order_id=str(uuid.uuid4()),
                items=[
                    pb.ReservationItem(product_id=plenty, quantity=1),
                    pb.ReservationItem(product_id=scarce, quantity=quantity),
                ],
            ),
            metadata=client.service,
        )
    assert oos.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(oos.value)
    assert info is not None and info.reason == reason and info.metadata["product_id"] == scarce
    assert (await client.stock(plenty)).reserved == 0


async def test_unknown_and_inactive_products(client: InventoryClient) -> None:
    inactive = await client.new_product(active=False)
    for pid, code, reason in [
        (str(uuid.uuid4()), grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND"),
        (inactive, grpc.StatusCode.FAILED_PRECONDITION, "PRODUCT_INACTIVE"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.stub.ReserveStock(
                pb.ReserveStockRequest(
                    order_id=str(uuid.uuid4()),
                    items=[pb.ReservationItem(product_id=pid, quantity=1)],
                ),
                metadata=client.service,
            )
        assert err.value.code() == code
        assert error_info(err.value).reason == reason  # type: ignore[union-attr]


async def test_reserve_validation_names_fields(client: InventoryClient) -> None:
    pid = await client.new_product()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(
                order_id="nope",
                items=[
                    pb.ReservationItem(product_id=pid, quantity=0),
                    pb.ReservationItem(product_id=pid, quantity=1001),
                ],
            ),
            metadata=client.service,
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(bad.value) == ["order_id"]
    with pytest.raises(grpc.aio.AioRpcError) as items:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(
                order_id=str(uuid.uuid4()),
                items=[
                    pb.ReservationItem(product_id=pid, quantity=0),
                    pb.ReservationItem(product_id=pid, quantity=1001),
                ],
            ),
            metadata=client.service,
        )
    assert set(_violations(items.value)) == {
        "items[0].quantity",
        "items[1].product_id",
        "items[1].quantity",
    }
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await client.stub.ReserveStock(
            pb.ReserveStockRequest(order_id=str(uuid.uuid4())), metadata=client.service
        )
    assert _violations(empty.value) == ["items"]


async def test_reservation_errors(client: InventoryClient) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as nf:
        await client.stub.CommitReservation(
            pb.CommitReservationRequest(order_id=missing), metadata=client.service
        )
    assert nf.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(nf.value).reason == "RESERVATION_NOT_FOUND"  # type: ignore[union-attr]
    pid = await client.new_product(stock=2)
    order = str(uuid.uuid4())
    await client.stub.ReserveStock(
        pb.ReserveStockRequest(
            order_id=order, items=[pb.ReservationItem(product_id=pid, quantity=2)], ttl_seconds=1
        ),
        metadata=client.service,
    )
    import asyncio

    await asyncio.sleep(1.2)
    with pytest.raises(grpc.aio.AioRpcError) as expired:
        await client.stub.CommitReservation(
            pb.CommitReservationRequest(order_id=order), metadata=client.service
        )
    assert error_info(expired.value).reason == "RESERVATION_EXPIRED"  # type: ignore[union-attr]
    # The expired hold's units are back.
    assert (await client.stock(pid)).available == 2


async def test_saga_calls_need_service_role(client: InventoryClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await client.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(order_id=str(uuid.uuid4())), metadata=client.customer
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_batch_get_products(client: InventoryClient) -> None:
    a = await client.new_product()
    unknown = str(uuid.uuid4())
    got = await client.stub.BatchGetProducts(
        pb.BatchGetProductsRequest(product_ids=[a, unknown]), metadata=client.service
    )
    assert [p.product_id for p in got.products] == [a]
    assert list(got.missing_product_ids) == [unknown]


async def test_bad_token_is_unauthenticated(client: InventoryClient) -> None:
    for metadata in ([("authorization", "Bearer garbage")], [("authorization", "Basic x")]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.stub.GetStock(
                pb.GetStockRequest(product_id=str(uuid.uuid4())), metadata=metadata
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
