"""GetPayment / ListPayments: admins and the saga see all, a customer only their own."""

from __future__ import annotations

import uuid

import grpc
import pytest
from shop.payment.v1 import payment_pb2 as pb

from tests.payment.conftest import PaymentClient

pytestmark = pytest.mark.integration


async def test_owner_admin_and_service_read_a_payment(payments: PaymentClient) -> None:
    order = str(uuid.uuid4())
    charged = (await payments.charge(order=order, customer="reader-alice")).payment
    request = pb.GetPaymentRequest(payment_id=charged.payment_id)
    for metadata in (payments.customer("reader-alice"), payments.admin, payments.service):
        reply = await payments.stub.GetPayment(request, metadata=metadata)
        assert reply.payment == charged and list(reply.refunds) == []


async def test_another_customer_gets_not_found(payments: PaymentClient) -> None:
    order = str(uuid.uuid4())
    charged = (await payments.charge(order=order, customer="reader-bob")).payment
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.GetPayment(
            pb.GetPaymentRequest(payment_id=charged.payment_id),
            metadata=payments.customer("reader-eve"),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await payments.stub.ListPayments(
        pb.ListPaymentsRequest(order_id=order), metadata=payments.customer("reader-eve")
    )
    assert list(listed.payments) == []


async def test_list_payments_of_an_order_newest_first(payments: PaymentClient) -> None:
    order = str(uuid.uuid4())
    first = (await payments.charge(key=f"{order}:a", order=order, customer="reader-carol")).payment
    second = (await payments.charge(key=f"{order}:b", order=order, customer="reader-carol")).payment
    for metadata in (payments.customer("reader-carol"), payments.admin):
        reply = await payments.stub.ListPayments(
            pb.ListPaymentsRequest(order_id=order), metadata=metadata
        )
        assert [p.payment_id for p in reply.payments] == [second.payment_id, first.payment_id]


async def test_bad_ids_and_missing_tokens(payments: PaymentClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.GetPayment(
            pb.GetPaymentRequest(payment_id="not-a-uuid"), metadata=payments.admin
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.GetPayment(pb.GetPaymentRequest(payment_id=str(uuid.uuid4())))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
