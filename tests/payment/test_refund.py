"""Refunds: partial and full, never above the captured amount, idempotent by key, racing."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from shop.common.v1 import money_pb2
from shop.payment.v1 import payment_pb2 as pb

from tests.payment.conftest import Failure, PaymentClient, ServerFactory, failure_of

pytestmark = pytest.mark.integration


def refund_request(
    payment_id: str, amount: int | None, key: str | None = None, currency: str = "EUR"
) -> pb.RefundRequest:
    request = pb.RefundRequest(
        idempotency_key=f"refund-{uuid.uuid4()}" if key is None else key,
        payment_id=payment_id,
        reason="test",
    )
    if amount is not None:
        request.amount.CopyFrom(money_pb2.Money(currency_code=currency, amount_minor=amount))
    return request


async def captured(payments: PaymentClient, amount: int = 10_000) -> str:
    reply = await payments.charge(amount=amount)
    return reply.payment.payment_id


async def refund(payments: PaymentClient, request: pb.RefundRequest) -> pb.RefundResponse:
    return await payments.stub.Refund(request, metadata=payments.service, timeout=15)


async def refund_failure(payments: PaymentClient, request: pb.RefundRequest) -> Failure:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await refund(payments, request)
    return failure_of(caught.value)


async def test_partial_refunds_up_to_the_total(payments: PaymentClient) -> None:
    payment_id = await captured(payments, 10_000)
    # Given a partial refund
    first_request = refund_request(payment_id, 3_000)
    first = await refund(payments, first_request)
    assert first.payment.status == pb.PAYMENT_STATUS_PARTIALLY_REFUNDED
    assert first.payment.refunded_amount.amount_minor == 3_000
    assert first.refund.amount.amount == "30.00"
    # When the rest is refunded
    second = await refund(payments, refund_request(payment_id, 7_000))
    assert second.payment.status == pb.PAYMENT_STATUS_REFUNDED
    assert second.payment.refunded_amount.amount_minor == 10_000
    # Then a third refund is refused
    third = await refund_failure(payments, refund_request(payment_id, 1))
    assert third.code == grpc.StatusCode.FAILED_PRECONDITION
    assert third.reason == "REFUND_EXCEEDS_CAPTURED"
    # and repeating the first refund's key answers the original refund, moving no money
    replay = await refund(payments, first_request)
    assert replay.refund == first.refund
    assert replay.payment.refunded_amount.amount_minor == 10_000
    rows = await payments.rows(
        "SELECT amount_minor FROM payment.refunds WHERE payment_id = %s ORDER BY created_at",
        uuid.UUID(payment_id),
    )
    assert [r["amount_minor"] for r in rows] == [3_000, 7_000]
    [row] = await payments.rows(
        "SELECT status, refunded_minor FROM payment.payments WHERE payment_id = %s",
        uuid.UUID(payment_id),
    )
    assert (row["status"], row["refunded_minor"]) == ("REFUNDED", 10_000)


async def test_refund_without_amount_gives_back_the_remainder(payments: PaymentClient) -> None:
    payment_id = await captured(payments, 5_000)
    await refund(payments, refund_request(payment_id, 1_250))
    full = await refund(payments, refund_request(payment_id, None))
    assert full.refund.amount.amount_minor == 3_750
    assert full.payment.status == pb.PAYMENT_STATUS_REFUNDED


async def test_refund_rules(payments: PaymentClient) -> None:
    payment_id = await captured(payments, 5_000)
    too_much = await refund_failure(payments, refund_request(payment_id, 5_001))
    assert too_much.reason == "REFUND_EXCEEDS_CAPTURED"
    currency = await refund_failure(payments, refund_request(payment_id, 100, currency="USD"))
    assert currency.code == grpc.StatusCode.INVALID_ARGUMENT
    assert currency.fields == ["amount.currency_code"]
    zero = await refund_failure(payments, refund_request(payment_id, 0))
    assert zero.code == grpc.StatusCode.INVALID_ARGUMENT and "amount.amount_minor" in zero.fields
    no_key = refund_request(payment_id, 100, key="")
    missing = await refund_failure(payments, no_key)
    assert missing.fields == ["idempotency_key"]
    unknown = await refund_failure(payments, refund_request(str(uuid.uuid4()), 100))
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    # A key is bound to its parameters.
    request = refund_request(payment_id, 100)
    await refund(payments, request)
    request.amount.amount_minor = 200
    reused = await refund_failure(payments, request)
    assert reused.reason == "IDEMPOTENCY_KEY_REUSED"
    # Nothing above moved money but the one refund of 100.
    [row] = await payments.rows(
        "SELECT refunded_minor FROM payment.payments WHERE payment_id = %s", uuid.UUID(payment_id)
    )
    assert row["refunded_minor"] == 100


async def test_uncaptured_payment_cannot_be_refunded(payments: PaymentClient) -> None:
    key = f"{uuid.uuid4()}:CHARGE_PAYMENT"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.charge(key=key, method="pm_card_declined")
    payment_id = failure_of(caught.value).metadata["payment_id"]
    failure = await refund_failure(payments, refund_request(payment_id, None))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "PAYMENT_NOT_CAPTURED"


async def test_racing_refunds_never_exceed_the_captured_amount(payments: PaymentClient) -> None:
    # Given 10.00 captured and ten concurrent refunds of 2.00 with distinct keys
    payment_id = await captured(payments, 1_000)
    results = await asyncio.gather(
        *(refund(payments, refund_request(payment_id, 200)) for _ in range(10)),
        return_exceptions=True,
    )
    # Then exactly five succeed and the rest are refused
    succeeded = [r for r in results if isinstance(r, pb.RefundResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(succeeded) == 5 and len(refused) == 5
    assert all(failure_of(e).reason == "REFUND_EXCEEDS_CAPTURED" for e in refused)
    [row] = await payments.rows(
        "SELECT status, refunded_minor FROM payment.payments WHERE payment_id = %s",
        uuid.UUID(payment_id),
    )
    assert (row["status"], row["refunded_minor"]) == ("REFUNDED", 1_000)


async def test_racing_refunds_with_one_key_refund_once(payments: PaymentClient) -> None:
    payment_id = await captured(payments, 1_000)
    request = refund_request(payment_id, 300)
    replies = await asyncio.gather(*(refund(payments, request) for _ in range(10)))
    assert all(reply.refund == replies[0].refund for reply in replies)
    [row] = await payments.rows(
        "SELECT refunded_minor FROM payment.payments WHERE payment_id = %s", uuid.UUID(payment_id)
    )
    assert row["refunded_minor"] == 300


async def test_customers_cannot_refund(payments: PaymentClient) -> None:
    payment_id = await captured(payments, 1_000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.Refund(
            refund_request(payment_id, None), metadata=payments.customer("cust-x")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_refund_waits_for_a_charge_in_flight(payment_server: ServerFactory) -> None:
    # A compensating saga must not skip a charge that may still capture.
    async with payment_server(latency_ms=1000) as payments:
        key = f"{uuid.uuid4()}:CHARGE_PAYMENT"
        charging = asyncio.create_task(payments.charge(key=key, amount=700))
        for _ in range(100):
            if await payments.payment_rows(key):
                break
            await asyncio.sleep(0.01)
        [row] = await payments.payment_rows(key)
        early = await refund_failure(payments, refund_request(str(row["payment_id"]), None))
        assert early.code == grpc.StatusCode.UNAVAILABLE and early.reason == "CHARGE_IN_FLIGHT"
        assert early.retry_after
        await charging
        done = await refund(payments, refund_request(str(row["payment_id"]), None))
        assert done.payment.status == pb.PAYMENT_STATUS_REFUNDED
