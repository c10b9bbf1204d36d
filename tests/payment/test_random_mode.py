"""The seeded random mode end to end, and the service as grpcurl sees it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest

from payment_svc.domain import Outcome
from payment_svc.simulator import Simulator
from tests.payment.conftest import PaymentClient, ServerFactory, failure_of

pytestmark = pytest.mark.integration

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
EXPECTED_CODE = {
    Outcome.SUCCEEDED: grpc.StatusCode.OK,
    Outcome.TRANSIENT: grpc.StatusCode.UNAVAILABLE,
    Outcome.DECLINED: grpc.StatusCode.FAILED_PRECONDITION,
}


async def test_random_mode_with_a_seed_gives_every_outcome_class(
    payment_server: ServerFactory,
) -> None:
    settings = {"simulator_mode": "random", "random_seed": 1, "random_latency_ms": (0, 30)}
    async with payment_server(velocity_limit_per_minute=0, **settings) as payments:
        predict = Simulator("random", 1, 0, (0, 30), 1_000_000)
        keys = [f"random-mode-{i}" for i in range(40)]  # fixed keys: the seed fixes outcomes

        async def code_of(key: str) -> grpc.StatusCode:
            try:
                await payments.charge(key=key, order=key, method="pm_card_visa")
            except grpc.aio.AioRpcError as error:
                return failure_of(error).code
            return grpc.StatusCode.OK

        codes = await asyncio.gather(*(code_of(k) for k in keys))
        expected = [
            EXPECTED_CODE[
                predict.decide(
                    key=k,
                    attempt_no=1,
                    payment_method="pm_card_visa",
                    amount_minor=1999,
                    prior_transients=0,
                ).outcome
            ]
            for k in keys
        ]
        assert codes == expected
        assert set(codes) == set(EXPECTED_CODE.values())
        latencies = await payments.rows(
            "SELECT latency_ms FROM payment.attempts WHERE idempotency_key LIKE 'random-mode-%%'"
        )
        assert all(0 <= row["latency_ms"] <= 30 for row in latencies)


async def grpcurl(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_grpcurl_charges_each_test_card(payments: PaymentClient) -> None:
    # The README's grpcurl lines, run for real.
    target = f"127.0.0.1:{payments.port}"
    auth = f"authorization: {payments.service[0][1]}"
    described = (await grpcurl(target, "describe", "shop.payment.v1.PaymentService.GetPayment"))[1]
    assert "/api/v1/payments/{payment_id}" in described
    expected = {
        "pm_card_ok": (0, "PAYMENT_STATUS_SUCCEEDED"),
        "pm_card_declined": (1, "PAYMENT_DECLINED"),
        "pm_card_fraud": (1, "FRAUD_SUSPECTED"),
        "pm_card_flaky": (1, "Unavailable"),
        "pm_card_unavailable": (1, "Unavailable"),
    }
    for method, (returncode, text) in expected.items():
        order = str(uuid.uuid4())
        body = {
            "idempotency_key": f"{order}:CHARGE_PAYMENT",
            "order_id": order,
            "customer_id": "cust-grpcurl",
            "amount": {"currency_code": "EUR", "amount_minor": 1999},
            "payment_method": method,
        }
        code, out = await grpcurl(
            "-H", auth, "-d", json.dumps(body), target, "shop.payment.v1.PaymentService/Charge"
        )
        assert (code != 0, text in out) == (bool(returncode), True), out
