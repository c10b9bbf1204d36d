"""OrderService over gRPC: proto <-> domain, domain errors -> status through one table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import money_pb2
from shop.orders.v1 import orders_pb2 as pb

from orchestrator import domain
from orchestrator.domain import Order, OrderLine, OrderStatus, StatusSnapshot
from orchestrator.handlers import Orders, parse_order_id
from orchestrator.watch import StatusFeed
from svckit import auth, logs
from svckit.money import format_minor
from svckit.rpcerrors import RpcFailure

SERVICE_NAME = "shop.orders.v1.OrderService"
IDEMPOTENCY_HEADER = "idempotency-key"

ERROR_TABLE: dict[type[domain.OrderError], tuple[grpc.StatusCode, str]] = {
    domain.InvalidOrder: (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    domain.OrderNotFound: (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND"),
    domain.IdempotencyKeyReused: (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
    domain.OrderNotCancellable: (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_NOT_CANCELLABLE"),
    domain.NotAllowed: (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
    domain.CatalogUnavailable: (grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE"),
}


STATUS_PB = {
    OrderStatus.PENDING: pb.ORDER_STATUS_PENDING,
    OrderStatus.PROCESSING: pb.ORDER_STATUS_PROCESSING,
    OrderStatus.CONFIRMED: pb.ORDER_STATUS_CONFIRMED,
    OrderStatus.CANCELLED: pb.ORDER_STATUS_CANCELLED,
    OrderStatus.FAILED: pb.ORDER_STATUS_FAILED,
}
STATUS_FROM_PB: dict[int, OrderStatus] = {int(v): s for s, v in STATUS_PB.items()}


def to_failure(error: domain.OrderError) -> RpcFailure:
    code, reason = ERROR_TABLE[type(error)]
    violations = error.violations if isinstance(error, domain.InvalidOrder) else None
    retry = 1.0 if code is grpc.StatusCode.UNAVAILABLE else None
    message = "order not found" if isinstance(error, domain.OrderNotFound) else str(error)
    return RpcFailure(code, message, reason=reason, violations=violations, retry_after=retry)


def _principal() -> auth.Principal:
    principal = auth.current_principal.get()
    if principal is None:  # the interceptor authenticates every OrderService call
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "missing token",
                         reason="UNAUTHENTICATED")
    return principal


def _ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor,
                           amount=format_minor(amount_minor))


def order_pb(order: Order) -> pb.Order:
    return pb.Order(
        order_id=order.order_id, customer_id=order.customer_id,
        status=STATUS_PB[order.status],
        cancel_reason=order.cancel_reason or "",
        items=[
            pb.OrderItem(product_id=i.product_id, sku=i.sku, name=i.name,
                         unit_price=_money(i.unit_price_minor, order.currency),
                         quantity=i.quantity,
                         line_total=_money(i.line_total_minor, order.currency))
            for i in order.items
        ],
        total=_money(order.total_minor, order.currency),
        payment_method=order.payment_method, locale=order.locale,
        contact_email=order.contact_email, callback_url=order.callback_url or "",
        created_at=_ts(order.created_at), updated_at=_ts(order.updated_at),
    )


def _status_fields(snapshot: StatusSnapshot) -> dict[str, Any]:
    return {
        "order_id": snapshot.order_id,
        "status": STATUS_PB[snapshot.status],
        "cancel_reason": snapshot.cancel_reason or "",
        "updated_at": _ts(snapshot.updated_at),
    }


def _status_filter(value: int) -> OrderStatus | None:
    if value == pb.ORDER_STATUS_UNSPECIFIED:
        return None
    if value not in STATUS_FROM_PB:
        raise domain.InvalidOrder([("status", "unknown status")])
    return STATUS_FROM_PB[value]


class OrderServicer:
    """shop.orders.v1.OrderService."""

    def __init__(self, orders: Orders, feed: StatusFeed) -> None:
        self.orders = orders
        self.feed = feed

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: Any
                          ) -> pb.CreateOrderResponse:
        metadata = dict(context.invocation_metadata() or ())
        key = str(metadata.get(IDEMPOTENCY_HEADER) or request.idempotency_key).strip()
        lines = [OrderLine(item.product_id, item.quantity) for item in request.items]
        try:
            order, replayed = await self.orders.place(
                _principal(), lines, payment_method=request.payment_method,
                locale=request.locale, contact_email=request.contact_email,
                callback_url=request.callback_url, idempotency_key=key,
            )
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
        logs.order_id.set(order.order_id)
        # grpc-gateway's convention: an HTTP front answers 202 with this Location.
        headers = [("x-http-code", "202"), ("location", f"/api/v1/orders/{order.order_id}")]
        if replayed:
            headers.append(("idempotent-replayed", "true"))
        await context.send_initial_metadata(headers)
        return pb.CreateOrderResponse(order=order_pb(order), idempotent_replayed=replayed)

    async def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> pb.GetOrderResponse:
        try:
            order = await self.orders.get(_principal(), request.order_id)
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
        return pb.GetOrderResponse(order=order_pb(order))

    async def GetOrderStatus(self, request: pb.GetOrderStatusRequest, context: Any
                             ) -> pb.GetOrderStatusResponse:
        try:
            snapshot = await self.orders.status(_principal(), request.order_id)
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
        return pb.GetOrderStatusResponse(**_status_fields(snapshot))

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Any
                         ) -> pb.ListOrdersResponse:
        try:
            orders, token = await self.orders.list_orders(
                _principal(), page_size=request.page_size, page_token=request.page_token,
                status=_status_filter(request.status), customer_id=request.customer_id,
            )
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
        return pb.ListOrdersResponse(orders=[order_pb(o) for o in orders], next_page_token=token)

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Any
                          ) -> pb.CancelOrderResponse:
        try:
            order, requested = await self.orders.cancel(_principal(), request.order_id)
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
        return pb.CancelOrderResponse(order=order_pb(order), cancel_requested=requested)

    async def WatchOrder(self, request: pb.WatchOrderRequest, context: Any
                         ) -> AsyncIterator[pb.WatchOrderResponse]:
        principal = _principal()
        try:
            order_id = str(parse_order_id(request.order_id))
            # Subscribe before the first read so no change falls between the two.
            async with self.feed.subscribe(order_id) as queue:
                last = await self.orders.status(principal, order_id)
                yield pb.WatchOrderResponse(**_status_fields(last))
                while not last.status.terminal:
                    snapshot = await queue.get()
                    if snapshot.status.rank > last.status.rank:
                        last = snapshot
                        yield pb.WatchOrderResponse(**_status_fields(last))
        except domain.OrderError as exc:
            raise to_failure(exc) from exc
