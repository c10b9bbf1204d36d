"""Charge over a real gRPC server and PostgreSQL: test cards, idempotency, races, limits."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest
from prometheus_client import REGISTRY
from shop.common.v1 import money_pb2
from shop.payment.v1 import payment_pb2 as pb

from tests.payment.conftest import PaymentClient, ServerFactory, failure_of

pytestmark = pytest.mark.integration

SUCCEEDED = pb.PAYMENT_STATUS_SUCCEEDED


def new_key() -> str:
    return f"{uuid.uuid4()}:CHARGE_PAYMENT"


async def expect_failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_pm_card_ok_captures_and_persists(payments: PaymentClient) -> None:
    key = new_key()
    reply = await payments.charge(key=key, method="pm_card_ok", amount=1999, customer="alice")
    payment = reply.payment
    assert payment.status == SUCCEEDED
    assert (payment.amount.currency_code, payment.amount.amount_minor) == ("EUR", 1999)
    assert payment.amount.amount == "19.99"
    assert payment.attempt_count == 1 and payment.HasField("capture_time")
    [row] = await payments.payment_rows(key)
    assert (row["status"], row["captured_minor"], row["currency_code"]) == (
        "SUCCEEDED",
        1999,
        "EUR",
    )
    [attempt] = await payments.attempt_rows(key)
    assert attempt["outcome"] == "SUCCEEDED" and attempt["latency_ms"] == 0


@pytest.mark.parametrize(
    ("method", "reason", "decline_code"),
    [
        ("pm_card_declined", "PAYMENT_DECLINED", "generic_decline"),
        ("pm_card_fraud", "FRAUD_SUSPECTED", "fraudulent"),
    ],
)
async def test_declines_are_final_for_their_key(
    payments: PaymentClient, method: str, reason: str, decline_code: str
) -> None:
    # Given a declined charge
    key = new_key()
    first = failure_of(await expect_failure(payments.charge(key=key, method=method)))
    assert first.code == grpc.StatusCode.FAILED_PRECONDITION
    assert first.reason == reason and first.metadata["decline_code"] == decline_code
    # When the same key is retried
    again = failure_of(await expect_failure(payments.charge(key=key, method=method)))
    # Then it answers the same decline without a second gateway attempt
    assert again == first
    [row] = await payments.payment_rows(key)
    assert (row["status"], row["failure_reason"], row["decline_code"]) == (
        "DECLINED",
        reason,
        decline_code,
    )
    assert row["captured_minor"] == 0 and str(row["payment_id"]) == first.metadata["payment_id"]
    assert [a["outcome"] for a in await payments.attempt_rows(key)] == [
        "DECLINED" if reason == "PAYMENT_DECLINED" else "FRAUD_SUSPECTED"
    ]


async def test_unavailable_is_transient_and_captures_nothing(payments: PaymentClient) -> None:
    key = new_key()
    for _ in range(2):
        failure = failure_of(
            await expect_failure(payments.charge(key=key, method="pm_card_unavailable"))
        )
        assert failure.code == grpc.StatusCode.UNAVAILABLE
        assert failure.reason == "PAYMENT_GATEWAY_UNAVAILABLE"
        assert failure.retry_after and failure.retry_after > 0
    [row] = await payments.payment_rows(key)
    assert (row["status"], row["captured_minor"]) == ("PENDING", 0)
    # Each retry with the key tried the gateway again.
    assert [a["outcome"] for a in await payments.attempt_rows(key)] == ["TRANSIENT", "TRANSIENT"]


async def test_flaky_fails_twice_then_succeeds_once(payments: PaymentClient) -> None:
    key, order = new_key(), str(uuid.uuid4())
    codes = []
    for _ in range(2):
        error = await expect_failure(
            payments.charge(key=key, order=order, customer="c-flaky", method="pm_card_flaky")
        )
        codes.append(error.code())
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2
    third = await payments.charge(key=key, order=order, customer="c-flaky", method="pm_card_flaky")
    fourth = await payments.charge(key=key, order=order, customer="c-flaky", method="pm_card_flaky")
    assert third.payment.status == SUCCEEDED and third == fourth
    assert third.payment.attempt_count == 3
    assert len(await payments.payment_rows(key)) == 1
    assert [a["outcome"] for a in await payments.attempt_rows(key)] == [
        "TRANSIENT",
        "TRANSIENT",
        "SUCCEEDED",
    ]


@pytest.mark.parametrize("latency_ms", [0, 150])
async def test_twenty_concurrent_calls_with_one_key_charge_once(
    payment_server: ServerFactory, latency_ms: int
) -> None:
    async with payment_server(latency_ms=latency_ms) as payments:
        key, order = new_key(), str(uuid.uuid4())
        replies = await asyncio.gather(
            *(payments.charge(key=key, order=order, customer="c-race") for _ in range(20))
        )
        assert all(reply == replies[0] for reply in replies)
        assert replies[0].payment.status == SUCCEEDED
        assert len(await payments.payment_rows(key)) == 1
        assert [a["outcome"] for a in await payments.attempt_rows(key)] == ["SUCCEEDED"]


async def test_same_key_other_parameters_is_rejected(payments: PaymentClient) -> None:
    key, order = new_key(), str(uuid.uuid4())
    original = await payments.charge(key=key, order=order, customer="c-reuse", amount=1000)
    failure = failure_of(
        await expect_failure(payments.charge(key=key, order=order, customer="c-reuse", amount=1001))
    )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "IDEMPOTENCY_KEY_REUSED"
    [row] = await payments.payment_rows(key)
    assert row["amount_minor"] == 1000 and str(row["payment_id"]) == original.payment.payment_id
    assert len(await payments.attempt_rows(key)) == 1


async def test_first_call_with_reused_key_after_transient_is_rejected_too(
    payments: PaymentClient,
) -> None:
    # A key whose charge is still pending keeps its parameters.
    key, order = new_key(), str(uuid.uuid4())
    await expect_failure(payments.charge(key=key, order=order, method="pm_card_unavailable"))
    failure = failure_of(
        await expect_failure(payments.charge(key=key, order=order, method="pm_card_ok"))
    )
    assert failure.reason == "IDEMPOTENCY_KEY_REUSED"
    assert len(await payments.attempt_rows(key)) == 1


async def test_lost_reply_is_found_again_by_the_retry(payment_server: ServerFactory) -> None:
    async with payment_server(latency_ms=300) as payments:
        key, order = new_key(), str(uuid.uuid4())
        # Given a call whose caller gives up before the gateway answers
        error = await expect_failure(payments.charge(key=key, order=order, deadline=0.1))
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # When the caller retries with the same key
        reply = await payments.charge(key=key, order=order)
        # Then it gets the one charge the first call made
        assert reply.payment.status == SUCCEEDED
        assert [a["outcome"] for a in await payments.attempt_rows(key)] == ["SUCCEEDED"]


async def test_fraud_threshold(payments: PaymentClient) -> None:
    limit = 1_000_000  # 10 000.00
    ok = await payments.charge(amount=limit)
    assert ok.payment.status == SUCCEEDED
    failure = failure_of(await expect_failure(payments.charge(amount=limit + 1)))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "FRAUD_SUSPECTED"
    assert failure.metadata["decline_code"] == "amount_over_limit"


async def test_velocity_limit_counts_new_keys_not_retries(payment_server: ServerFactory) -> None:
    async with payment_server(velocity_limit_per_minute=3) as payments:
        customer = f"c-velocity-{uuid.uuid4().hex[:6]}"
        # Given one key retried three times (flaky card): it counts once
        flaky = new_key()
        for _ in range(2):
            await expect_failure(
                payments.charge(key=flaky, customer=customer, method="pm_card_flaky")
            )
        await payments.charge(key=flaky, customer=customer, method="pm_card_flaky")
        # and two more new charges
        await payments.charge(customer=customer)
        await payments.charge(customer=customer)
        # When a fourth new charge comes within the minute
        fourth = new_key()
        failure = failure_of(await expect_failure(payments.charge(key=fourth, customer=customer)))
        # Then it is refused with a hint when to retry, and nothing is captured
        assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert failure.reason == "VELOCITY_LIMIT_EXCEEDED"
        assert failure.retry_after is not None and 0 < failure.retry_after <= 60
        [row] = await payments.payment_rows(fourth)
        assert (row["status"], row["captured_minor"]) == ("PENDING", 0)
        assert [a["outcome"] for a in await payments.attempt_rows(fourth)] == ["VELOCITY_LIMITED"]
        # and the refused attempt did not use up budget: still refused, others unaffected
        again = failure_of(await expect_failure(payments.charge(key=fourth, customer=customer)))
        assert again.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await payments.charge(customer="someone-else")).payment.status == SUCCEEDED
        replay = await payments.charge(key=flaky, customer=customer, method="pm_card_flaky")
        assert replay.payment.status == SUCCEEDED


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_minor": 0}, "amount.amount_minor"),
        ({"amount_minor": -5}, "amount.amount_minor"),
        ({"currency_code": "XYZ"}, "amount.currency_code"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"no_amount": True}, "amount"),
        ({"order_id": ""}, "order_id"),
        ({"payment_method": "pm card!"}, "payment_method"),
    ],
)
async def test_invalid_input_names_the_field_and_changes_nothing(
    payments: PaymentClient, changes: dict[str, object], field: str
) -> None:
    order = str(uuid.uuid4())
    request = pb.ChargeRequest(
        idempotency_key=str(changes.get("idempotency_key", f"{order}:CHARGE_PAYMENT")),
        order_id=str(changes.get("order_id", order)),
        customer_id="c-invalid",
        payment_method=str(changes.get("payment_method", "pm_card_ok")),
    )
    if not changes.get("no_amount"):
        request.amount.CopyFrom(
            money_pb2.Money(
                currency_code=str(changes.get("currency_code", "EUR")),
                amount_minor=int(changes.get("amount_minor", 100)),  # type: ignore[call-overload]
            )
        )
    error = await expect_failure(payments.stub.Charge(request, metadata=payments.service))
    failure = failure_of(error)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.fields
    assert await payments.rows("SELECT 1 FROM payment.payments WHERE order_id = %s", order) == []


async def test_latency_does_not_block_other_calls(payment_server: ServerFactory) -> None:
    async with payment_server(latency_ms=500) as payments:
        started = time.perf_counter()
        replies = await asyncio.gather(*(payments.charge() for _ in range(20)))
        elapsed = time.perf_counter() - started
        print(f"20 concurrent charges at 500 ms latency took {elapsed:.2f} s")
        assert all(r.payment.status == SUCCEEDED for r in replies)
        assert 0.5 <= elapsed < 5.0  # serial would be 10 s


async def test_only_the_saga_or_admins_charge(payments: PaymentClient) -> None:
    order = str(uuid.uuid4())
    request = pb.ChargeRequest(
        idempotency_key=f"{order}:x",
        order_id=order,
        customer_id="mallory",
        amount=money_pb2.Money(currency_code="EUR", amount_minor=100),
    )
    denied = await expect_failure(
        payments.stub.Charge(request, metadata=payments.customer("mallory"))
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    anonymous = await expect_failure(payments.stub.Charge(request))
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (
        await payments.stub.Charge(request, metadata=payments.admin)
    ).payment.status == SUCCEEDED


async def test_an_attempt_whose_process_died_is_taken_over_after_its_lease(
    payment_server: ServerFactory,
) -> None:
    async with payment_server(attempt_lease_seconds=1.0) as payments:
        # Given a pending payment whose attempt 2 was left in flight by a process that died
        key = new_key()
        await expect_failure(payments.charge(key=key, method="pm_card_flaky"))
        [row] = await payments.payment_rows(key)
        started = time.perf_counter()
        await payments.rows(
            """
            INSERT INTO payment.attempts (payment_id, idempotency_key, customer_id, attempt_no,
                outcome) VALUES (%s, %s, %s, 2, 'IN_FLIGHT') RETURNING attempt_id
            """,
            row["payment_id"],
            key,
            row["customer_id"],
        )
        # When the key is retried: the caller waits for the lease, then tries again itself
        await expect_failure(payments.charge(key=key, method="pm_card_flaky"))
        waited = time.perf_counter() - started
        reply = await payments.charge(key=key, method="pm_card_flaky")
        # Then the dead attempt is marked abandoned and the flaky card's third try succeeds
        assert 0.9 < waited < 10
        assert reply.payment.status == SUCCEEDED
        outcomes = [a["outcome"] for a in await payments.attempt_rows(key)]
        assert outcomes == ["TRANSIENT", "ABANDONED", "TRANSIENT", "SUCCEEDED"]


async def test_outcomes_are_counted_in_metrics(payments: PaymentClient) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value("payment_charges_total", {"outcome": outcome})
        return value or 0.0

    before = {o: count(o) for o in ("succeeded", "declined", "replayed")}
    key = new_key()
    await payments.charge(key=key)
    await payments.charge(key=key)
    await expect_failure(payments.charge(method="pm_card_declined"))
    assert count("succeeded") == before["succeeded"] + 1
    assert count("replayed") == before["replayed"] + 1
    assert count("declined") == before["declined"] + 1


async def test_concurrent_calls_share_a_transient_answer(payment_server: ServerFactory) -> None:
    async with payment_server(latency_ms=200) as payments:
        key = new_key()
        results = await asyncio.gather(
            *(payments.charge(key=key, method="pm_card_unavailable") for _ in range(10)),
            return_exceptions=True,
        )
        failures = [failure_of(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(failures) == 10 and all(f == failures[0] for f in failures)
        assert failures[0].code == grpc.StatusCode.UNAVAILABLE
        [row] = await payments.payment_rows(key)
        assert (row["status"], row["captured_minor"]) == ("PENDING", 0)
