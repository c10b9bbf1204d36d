"""Payment fixtures: real servers on port 0 with chosen simulator settings, tokens, DB reads."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
import pytest_asyncio
from google.rpc import error_details_pb2
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from shop.common.v1 import money_pb2
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc as pb_grpc

from payment_svc.app import build_service
from payment_svc.config import Settings
from svckit.db import open_pool
from svckit.rpcerrors import details_of
from tests.support import bearer, serving

Metadata = list[tuple[str, str]]


@dataclass
class PaymentClient:
    stub: pb_grpc.PaymentServiceStub
    service: Metadata
    admin: Metadata
    secret: str
    port: int
    database_url: str

    def customer(self, customer_id: str) -> Metadata:
        return bearer(self.secret, "customer", customer_id)

    async def charge(
        self,
        *,
        key: str | None = None,
        method: str = "pm_card_ok",
        amount: int = 1999,
        currency: str = "EUR",
        customer: str | None = None,
        order: str | None = None,
        deadline: float = 15.0,
    ) -> pb.ChargeResponse:
        # Retries of one key must repeat its parameters: derive them from the key by default.
        order = order or (key.partition(":")[0] if key else str(uuid.uuid4()))
        request = pb.ChargeRequest(
            idempotency_key=key or f"{order}:CHARGE_PAYMENT",
            order_id=order,
            customer_id=customer or f"cust-{order[:8]}",
            amount=money_pb2.Money(currency_code=currency, amount_minor=amount),
            payment_method=method,
        )
        return await self.stub.Charge(request, metadata=self.service, timeout=deadline)

    async def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, row_factory=dict_row
        ) as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def payment_rows(self, key: str) -> list[dict[str, Any]]:
        return await self.rows("SELECT * FROM payment.payments WHERE idempotency_key = %s", key)

    async def attempt_rows(self, key: str) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT * FROM payment.attempts WHERE idempotency_key = %s ORDER BY attempt_no", key
        )


@dataclass
class Failure:
    """What a failed call carried: code, ErrorInfo, field violations, RetryInfo delay."""

    code: grpc.StatusCode
    reason: str
    metadata: dict[str, str]
    fields: list[str]
    retry_after: float | None


def failure_of(error: grpc.aio.AioRpcError) -> Failure:
    status = details_of(error)
    reason, metadata, fields, retry = "", {}, [], None
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info_retry = error_details_pb2.RetryInfo()
            detail.Unpack(info_retry)
            retry = info_retry.retry_delay.ToMilliseconds() / 1000
    return Failure(error.code(), reason, metadata, fields, retry)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def payment_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(database_url, name="payment-test", max_size=10)
    await pool.wait()
    yield pool
    await pool.close()


ServerFactory = Callable[..., contextlib.AbstractAsyncContextManager[PaymentClient]]


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def payment_server(
    payment_pool: AsyncConnectionPool, database_url: str, secret: str
) -> ServerFactory:
    """`async with payment_server(latency_ms=500) as client:` a server with those settings."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[PaymentClient]:
        settings = dataclasses.replace(
            Settings(database_url=database_url, jwt_secret=secret), **overrides
        )
        async with serving(build_service(payment_pool, settings)) as (channel, port):
            yield PaymentClient(
                stub=pb_grpc.PaymentServiceStub(channel),
                service=bearer(secret, "service", "orchestrator"),
                admin=bearer(secret, "admin"),
                secret=secret,
                port=port,
                database_url=database_url,
            )

    return start


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def payments(payment_server: ServerFactory) -> AsyncIterator[PaymentClient]:
    """A server with the default settings (deterministic, no latency, velocity 10/min)."""
    async with payment_server() as client:
        yield client
