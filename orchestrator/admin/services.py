"""What a saga produced, read through the services' gRPC APIs with an admin-role token."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc as inv_grpc
from shop.notify.v1 import notify_pb2 as ntf
from shop.notify.v1 import notify_pb2_grpc as ntf_grpc
from shop.payment.v1 import payment_pb2 as pay
from shop.payment.v1 import payment_pb2_grpc as pay_grpc

from orchestrator.admin.config import AdminSettings
from svckit.auth import issue_token
from svckit.clients import channel

# The order being read (a ContextVar: the three reads run concurrently in one task's context).
_ORDER: contextvars.ContextVar[str] = contextvars.ContextVar("admin_order_id")


def _short(text: str | None, width: int = 80) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _dict(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


async def _call(name: str, target: str, metadata: list[tuple[str, str]], timeout: float,
                fetch: Any) -> tuple[str, Any, str | None]:
    async with channel(target) as ch:
        try:
            return name, await fetch(ch, metadata, timeout), None
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return name, None, None
            return name, None, f"{exc.code().name} at {target}: {_short(exc.details())}"


async def _reservation(ch: grpc.aio.Channel, md: Any, timeout: float) -> Any:
    reply = await inv_grpc.InventoryServiceStub(ch).GetReservation(
        inv.GetReservationRequest(order_id=_ORDER.get()), metadata=md, timeout=timeout)
    return _dict(reply.reservation)


async def _payments(ch: grpc.aio.Channel, md: Any, timeout: float) -> Any:
    reply = await pay_grpc.PaymentServiceStub(ch).ListPayments(
        pay.ListPaymentsRequest(order_id=_ORDER.get()), metadata=md, timeout=timeout)
    return [_dict(p) for p in reply.payments]


async def _notifications(ch: grpc.aio.Channel, md: Any, timeout: float) -> Any:
    reply = await ntf_grpc.NotificationServiceStub(ch).ListNotifications(
        ntf.ListNotificationsRequest(order_id=_ORDER.get()), metadata=md, timeout=timeout)
    return [_dict(n) for n in reply.notifications]




async def produced(settings: AdminSettings, order_id: str, actor: str) -> dict[str, Any]:
    """{reservation, payments, notifications, unavailable: {part: why}}; never raises."""
    result: dict[str, Any] = {"reservation": None, "payments": [], "notifications": [],
                              "unavailable": {}}
    parts = {"reservation": (settings.inventory_addr, _reservation),
             "payments": (settings.payment_addr, _payments),
             "notifications": (settings.notify_addr, _notifications)}
    if not settings.jwt_secret:
        result["unavailable"] = {p: "JWT_SECRET is not set" for p in parts}
        return result
    token = issue_token(settings.jwt_secret, f"admin-cli:{actor}", "admin", ttl_seconds=300)
    metadata = [("authorization", f"Bearer {token}")]
    _ORDER.set(order_id)
    answers = await asyncio.gather(*(
        _call(name, addr, metadata, settings.rpc_timeout, fetch)
        for name, (addr, fetch) in parts.items()), return_exceptions=True)
    for name, answer in zip(parts, answers, strict=True):
        if isinstance(answer, BaseException):
            result["unavailable"][name] = f"{type(answer).__name__}: {answer}"
            continue
        _, value, problem = answer
        if problem:
            result["unavailable"][name] = problem
        elif value is not None:
            result[name] = value
    return result
