"""Wiring of the payment service: use cases, servicer, gRPC service description."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from payment_svc.config import Settings
from payment_svc.handlers import Payments
from payment_svc.servicer import SERVICE_NAME, PaymentServicer, registrar
from svckit.db import ping
from svckit.grpcserver import Service


def build_service(pool: AsyncConnectionPool[Any], settings: Settings) -> Service:
    return Service(
        names=[SERVICE_NAME],
        register=registrar(PaymentServicer(Payments(pool, settings))),
        probe=lambda: ping(pool),
        secret=settings.jwt_secret,
    )
