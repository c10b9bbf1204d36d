"""The saga's ports over gRPC: inventory, payment and notification calls with deadlines and keys.

Every failed call becomes a StepError through outcomes.from_rpc_error (the one mapping table).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc
from shop.notify.v1 import notify_pb2 as ntf
from shop.notify.v1 import notify_pb2_grpc as ntf_grpc
from shop.payment.v1 import payment_pb2 as pay
from shop.payment.v1 import payment_pb2_grpc as pay_grpc

from orchestrator.saga.outcomes import StepError, from_rpc_error
from orchestrator.saga.ports import Call
from orchestrator.saga.store import OrderView
from svckit.clients import ServiceToken, channel
from svckit.money import format_minor

T = TypeVar("T")

# PENDING is refundable too: a charge whose reply was lost may still be in flight on the
# gateway. Refund answers CHARGE_IN_FLIGHT (transient: the saga retries until it settles) or
# PAYMENT_NOT_CAPTURED (nothing was taken: nothing to undo).
_REFUNDABLE = (pay.PAYMENT_STATUS_SUCCEEDED, pay.PAYMENT_STATUS_PARTIALLY_REFUNDED,
               pay.PAYMENT_STATUS_PENDING)
_NOTHING_TO_REFUND = "PAYMENT_NOT_CAPTURED"



class GrpcPorts:
    """SagaPorts over three channels; one instance per worker process (event loop)."""

    def __init__(self, token: ServiceToken, *, inventory_addr: str, payment_addr: str,
                 notify_addr: str) -> None:
        self._token = token
        self._channels = [channel(inventory_addr), channel(payment_addr), channel(notify_addr)]
        self._inventory = inv_grpc.InventoryServiceStub(self._channels[0])
        self._payment = pay_grpc.PaymentServiceStub(self._channels[1])
        self._notify = ntf_grpc.NotificationServiceStub(self._channels[2])

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close()

    async def _rpc(self, call: Call, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None

    def _kw(self, call: Call) -> dict[str, Any]:
        return {"timeout": call.timeout,
                "metadata": self._token.metadata(**{"x-idempotency-key": call.key})}

    # --- inventory ------------------------------------------------------------------------

    async def reserve_stock(self, call: Call) -> None:
        items = [inv.ReservationItem(product_id=str(i["product_id"]), quantity=i["quantity"])
                 for i in call.order.items]
        await self._rpc(call, self._inventory.ReserveStock(
            inv.ReserveStockRequest(order_id=call.order.order_id, items=items), **self._kw(call)))

    async def release_stock(self, call: Call) -> None:
        await self._rpc(call, self._inventory.ReleaseReservation(
            inv.ReleaseReservationRequest(order_id=call.order.order_id,
                                          reason=call.reason or "saga compensation"),
            **self._kw(call)))

    async def commit_stock(self, call: Call) -> None:
        await self._rpc(call, self._inventory.CommitReservation(
            inv.CommitReservationRequest(order_id=call.order.order_id), **self._kw(call)))

    async def restock(self, call: Call) -> None:
        await self._rpc(call, self._inventory.RestockReservation(
            inv.RestockReservationRequest(order_id=call.order.order_id,
                                          reason=call.reason or "saga compensation"),
            **self._kw(call)))

    # --- payment --------------------------------------------------------------------------

    async def charge_payment(self, call: Call) -> None:
        o = call.order
        await self._rpc(call, self._payment.Charge(pay.ChargeRequest(
            idempotency_key=call.key, order_id=o.order_id, customer_id=o.customer_id,
            amount=money_pb2.Money(currency_code=o.currency, amount_minor=o.total_minor),
            payment_method=o.payment_method, description=f"order {o.order_id}",
        ), **self._kw(call)))

    async def refund_payment(self, call: Call) -> None:
        """Refunds every captured payment of the order (a charge in doubt may have landed)."""
        listed = await self._rpc(call, self._payment.ListPayments(
            pay.ListPaymentsRequest(order_id=call.order.order_id), **self._kw(call)))
        charge_key = f"{call.order.order_id}:CHARGE_PAYMENT"
        for payment in listed.payments:
            if payment.status not in _REFUNDABLE:
                continue
            key = call.key if payment.idempotency_key == charge_key else (
                f"{call.key}:{payment.payment_id}")
            try:
                await self._rpc(call, self._payment.Refund(pay.RefundRequest(
                    idempotency_key=key, payment_id=payment.payment_id,
                    reason=call.reason or "order cancelled"), **self._kw(call)))
            except StepError as error:
                if error.reason != _NOTHING_TO_REFUND:
                    raise

    # --- notifications --------------------------------------------------------------------

    async def send_confirmation(self, call: Call) -> None:
        await self._send(call, "ORDER_CONFIRMED")

    async def send_cancellation(self, call: Call) -> None:
        template = ("PAYMENT_FAILED" if call.reason in ("PAYMENT_DECLINED", "FRAUD_SUSPECTED")
                    else "ORDER_CANCELLED")
        await self._send(call, template)

    async def _send(self, call: Call, template: str) -> None:
        o = call.order
        await self._rpc(call, self._notify.Send(_send_request(o, call, template),
                                                **self._kw(call)))


def _send_request(o: OrderView, call: Call, template: str) -> ntf.SendRequest:
    channels = [ntf.CHANNEL_EMAIL]
    if o.callback_url:
        channels.append(ntf.CHANNEL_WEBHOOK)
    return ntf.SendRequest(
        idempotency_key=call.key, order_id=o.order_id, customer_id=o.customer_id,
        template=template, locale=o.locale,
        variables={
            "customer_name": o.contact_email.split("@", 1)[0],
            "total": format_minor(o.total_minor), "currency": o.currency,
            "cancel_reason": call.reason or "",
        },
        items=[ntf.LineItem(name=i["name"], quantity=i["quantity"],
                            line_total=format_minor(i["line_total_minor"]),
                            unit_price=format_minor(i["unit_price_minor"])) for i in o.items],
        channels=channels, recipient=ntf.Recipient(email=o.contact_email),
        callback_url=o.callback_url or "",
    )
