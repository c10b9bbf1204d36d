"""`python -m payment_svc` as the launcher starts it: env, health, a charge, metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import grpc
import httpx
import pytest
from shop.common.v1 import money_pb2
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc as pb_grpc

from devstack import servers
from tests.support import bearer, wait_serving

pytestmark = pytest.mark.e2e



async def test_the_process_serves_charges_and_metrics_and_stops_on_sigterm(
    database_url: str, secret: str
) -> None:
    grpc_port, metrics_port = servers.free_port(), servers.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": secret,
        "PAYMENT_GRPC_PORT": str(grpc_port),
        "PAYMENT_METRICS_PORT": str(metrics_port),
        "PAYMENT_SIMULATOR_MODE": "random",
        "PAYMENT_RANDOM_SEED": "1",
        "PAYMENT_RANDOM_LATENCY_MS": "0-10",
        "LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "payment_svc",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_serving(grpc_port, lambda: proc.returncode is None, "payment_svc")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            order = str(uuid.uuid4())
            reply = await pb_grpc.PaymentServiceStub(channel).Charge(
                pb.ChargeRequest(
                    idempotency_key=f"{order}:CHARGE_PAYMENT",
                    order_id=order,
                    customer_id="cust-process",
                    amount=money_pb2.Money(currency_code="GBP", amount_minor=250),
                    payment_method="pm_card_ok",
                ),
                metadata=bearer(secret, "service", "orchestrator"),
                timeout=10,
            )
            assert reply.payment.status == pb.PAYMENT_STATUS_SUCCEEDED
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)).text
        assert 'payment_charges_total{outcome="succeeded"} 1.0' in text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)
