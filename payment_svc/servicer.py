"""PaymentService over gRPC: proto <-> domain, roles, and domain errors -> status by one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import grpc
from google.protobuf import timestamp_pb2
from shop.common.v1 import money_pb2
from shop.payment.v1 import payment_pb2, payment_pb2_grpc

from payment_svc import domain
from payment_svc.handlers import Payments, Row
from svckit import logs
from svckit.auth import Principal, current_principal
from svckit.money import format_minor
from svckit.rpcerrors import RpcFailure

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name

# Domain error -> (status code, ErrorInfo reason); looked up along the class's MRO.
ERRORS: dict[type[domain.PaymentError], tuple[grpc.StatusCode, str]] = {
    domain.InvalidRequest: (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    domain.IdempotencyKeyReused: (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
    domain.FraudSuspected: (grpc.StatusCode.FAILED_PRECONDITION, "FRAUD_SUSPECTED"),
    domain.PaymentDeclined: (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_DECLINED"),
    domain.GatewayUnavailable: (grpc.StatusCode.UNAVAILABLE, "PAYMENT_GATEWAY_UNAVAILABLE"),
    domain.VelocityLimitExceeded: (grpc.StatusCode.RESOURCE_EXHAUSTED, "VELOCITY_LIMIT_EXCEEDED"),
    domain.PaymentNotFound: (grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND"),
    domain.PaymentNotRefundable: (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURED"),
    domain.ChargeInFlight: (grpc.StatusCode.UNAVAILABLE, "CHARGE_IN_FLIGHT"),
    domain.RefundExceedsCaptured: (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"),
    domain.CurrencyMismatch: (grpc.StatusCode.INVALID_ARGUMENT, "CURRENCY_MISMATCH"),
    domain.PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
}


def to_failure(error: domain.PaymentError) -> RpcFailure:
    for cls in type(error).__mro__:
        if cls in ERRORS:
            code, reason = ERRORS[cls]  # type: ignore[index,unused-ignore]
            break
    else:
        code, reason = grpc.StatusCode.INTERNAL, "INTERNAL"
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    retry_after: float | None = None
    if isinstance(error, domain.PaymentDeclined):
        metadata = {"decline_code": error.decline_code, "payment_id": error.payment_id}
    elif isinstance(error, domain.InvalidRequest):
        violations = error.violations
    elif isinstance(error, domain.CurrencyMismatch):
        violations = [("amount.currency_code", str(error))]
    elif isinstance(
        error, (domain.GatewayUnavailable, domain.VelocityLimitExceeded, domain.ChargeInFlight)
    ):
        retry_after = error.retry_after
    return RpcFailure(
        code,
        str(error),
        reason=reason,
        metadata=metadata,
        violations=violations,
        retry_after=retry_after,
    )


T = TypeVar("T")


async def _translated(call: Awaitable[T]) -> T:
    try:
        return await call
    except domain.PaymentError as error:
        raise to_failure(error) from None


def _principal() -> Principal:
    principal = current_principal.get()
    assert principal is not None, "the interceptor authenticates every PaymentService call"
    return principal


def _require_operator() -> Principal:
    principal = _principal()
    if not (principal.is_admin or principal.is_service):
        raise to_failure(domain.PermissionDenied("only the order saga or an admin may do this"))
    return principal


def _viewer() -> str | None:
    """None for admins and services (they see everything), else the customer's own id."""
    principal = _principal()
    return None if principal.is_admin or principal.is_service else principal.subject


def _money_in(money: money_pb2.Money) -> domain.Money:
    return domain.Money(money.currency_code.strip().upper(), money.amount_minor)


def _money_out(currency: str, amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(
        currency_code=currency, amount_minor=amount_minor, amount=format_minor(amount_minor)
    )


def _ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def payment_out(row: Row) -> payment_pb2.Payment:
    return payment_pb2.Payment(
        payment_id=str(row["payment_id"]),
        idempotency_key=row["idempotency_key"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        amount=_money_out(row["currency_code"], row["amount_minor"]),
        refunded_amount=_money_out(row["currency_code"], row["refunded_minor"]),
        status=payment_pb2.PaymentStatus.Name(
            payment_pb2.PaymentStatus.Value(f"PAYMENT_STATUS_{row['status']}")
        ),
        payment_method=row["payment_method"],
        description=row["description"],
        failure_reason=row["failure_reason"] or "",
        decline_code=row["decline_code"] or "",
        attempt_count=int(row.get("attempt_count") or 0),
        create_time=_ts(row["created_at"]),
        update_time=_ts(row["updated_at"]),
        capture_time=_ts(row["captured_at"]),
    )


def refund_out(row: Row) -> payment_pb2.PaymentRefund:
    return payment_pb2.PaymentRefund(
        refund_id=str(row["refund_id"]),
        payment_id=str(row["payment_id"]),
        idempotency_key=row["idempotency_key"],
        amount=_money_out(row["currency_code"], row["amount_minor"]),
        reason=row["reason"],
        status=payment_pb2.REFUND_STATUS_SUCCEEDED,
        create_time=_ts(row["created_at"]),
    )


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    async def Charge(
        self, request: payment_pb2.ChargeRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.ChargeResponse:
        _require_operator()
        logs.order_id.set(request.order_id or None)
        cmd = domain.ChargeCommand(
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            customer_id=request.customer_id,
            amount=_money_in(request.amount),
            payment_method=request.payment_method.strip(),
            description=request.description,
        )
        row = await _translated(self.payments.charge(cmd, amount_given=request.HasField("amount")))
        return payment_pb2.ChargeResponse(payment=payment_out(row))

    async def Refund(
        self, request: payment_pb2.RefundRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.RefundResponse:
        principal = _require_operator()
        given = request.HasField("amount")
        cmd = domain.RefundCommand(
            idempotency_key=request.idempotency_key,
            payment_id=request.payment_id.strip(),
            amount=_money_in(request.amount) if given else None,
            reason=request.reason,
            actor=principal.subject,
        )
        refund, payment = await _translated(self.payments.refund(cmd))
        return payment_pb2.RefundResponse(refund=refund_out(refund), payment=payment_out(payment))

    async def GetPayment(
        self, request: payment_pb2.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.GetPaymentResponse:
        row, refunds = await _translated(self.payments.get(request.payment_id.strip(), _viewer()))
        return payment_pb2.GetPaymentResponse(
            payment=payment_out(row), refunds=[refund_out(r) for r in refunds]
        )

    async def ListPayments(
        self, request: payment_pb2.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.ListPaymentsResponse:
        rows = await _translated(self.payments.list_for_order(request.order_id.strip(), _viewer()))
        return payment_pb2.ListPaymentsResponse(payments=[payment_out(r) for r in rows])


def registrar(servicer: PaymentServicer) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call,unused-ignore]

    return register
