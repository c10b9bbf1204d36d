"""gRPC NotificationService: proto <-> domain, roles, domain errors -> status by one table."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shop.notify.v1 import notify_pb2, notify_pb2_grpc

from notify_svc import handlers
from notify_svc.domain import (
    Channel,
    DeliveryInProgress,
    DeliveryPending,
    IdempotencyKeyReused,
    InvalidRequest,
    LineItem,
    NotAllowed,
    Notification,
    NotificationsNotFound,
    NotifyError,
    SendCommand,
)
from svckit import logs
from svckit.auth import Principal, current_principal
from svckit.rpcerrors import RpcFailure

SERVICE_NAME = notify_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name

_CHANNEL_FROM_PROTO = {
    notify_pb2.CHANNEL_EMAIL: Channel.EMAIL,
    notify_pb2.CHANNEL_SMS: Channel.SMS,
    notify_pb2.CHANNEL_WEBHOOK: Channel.WEBHOOK,
}
_CHANNEL_TO_PROTO = {value: key for key, value in _CHANNEL_FROM_PROTO.items()}

# domain error -> (status code, ErrorInfo reason); the one translation table of this service.
_ERRORS: dict[type[NotifyError], tuple[grpc.StatusCode, str]] = {
    InvalidRequest: (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    IdempotencyKeyReused: (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
    NotificationsNotFound: (grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    NotAllowed: (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
    DeliveryPending: (grpc.StatusCode.UNAVAILABLE, "DELIVERY_PENDING"),
    DeliveryInProgress: (grpc.StatusCode.UNAVAILABLE, "DELIVERY_IN_PROGRESS"),
}
_IN_PROGRESS_RETRY_AFTER = 1.0


def to_failure(exc: NotifyError) -> RpcFailure:
    code, reason = _ERRORS[type(exc)]
    violations = exc.violations if isinstance(exc, InvalidRequest) else None
    retry_after: float | None = None
    if isinstance(exc, DeliveryPending):
        retry_after = exc.retry_after
    elif isinstance(exc, DeliveryInProgress):
        retry_after = _IN_PROGRESS_RETRY_AFTER
    return RpcFailure(code, str(exc), reason=reason, violations=violations,
                      retry_after=retry_after)


class NotificationServicer(notify_pb2_grpc.NotificationServiceServicer):
    def __init__(self, deps: handlers.Deps) -> None:
        self._deps = deps

    async def Send(
        self, request: notify_pb2.SendRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.SendResponse:
        _principal(require_staff=True)
        logs.order_id.set(request.order_id or None)
        command, problems = _command(request)
        remaining = context.time_remaining()
        # Leave the caller time to receive our answer before its own deadline.
        budget = None if remaining is None else max(0.0, remaining - 0.5)
        try:
            if problems:
                raise InvalidRequest(problems)
            outcome = await handlers.send(self._deps, command, wait_budget=budget)
        except NotifyError as exc:
            raise to_failure(exc) from None
        return notify_pb2.SendResponse(
            notification=_notification(outcome.notification), replayed=outcome.replayed
        )

    async def ListNotifications(
        self, request: notify_pb2.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.ListNotificationsResponse:
        principal = _principal(require_staff=False)
        customer_id = None if principal.is_admin or principal.is_service else principal.subject
        try:
            found = await handlers.list_notifications(
                self._deps, request.order_id, customer_id=customer_id
            )
        except NotifyError as exc:
            raise to_failure(exc) from None
        return notify_pb2.ListNotificationsResponse(
            notifications=[_notification(n) for n in found]
        )


def _principal(*, require_staff: bool) -> Principal:
    principal = current_principal.get()
    if principal is None:  # the interceptor authenticates every call; belt and braces
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "authentication required",
                         reason="UNAUTHENTICATED")
    if require_staff and not (principal.is_admin or principal.is_service):
        raise to_failure(NotAllowed("only services and admins may send notifications"))
    return principal


def _command(request: notify_pb2.SendRequest) -> tuple[SendCommand, list[tuple[str, str]]]:
    """The domain command, plus the violations only the proto layer can see (enum values)."""
    problems: list[tuple[str, str]] = []
    channels: list[Channel] = []
    for index, value in enumerate(request.channels):
        channel = _CHANNEL_FROM_PROTO.get(value)
        if channel is None:
            problems.append((f"channels[{index}]", "must be CHANNEL_EMAIL, CHANNEL_SMS or "
                                                   "CHANNEL_WEBHOOK"))
        else:
            channels.append(channel)
    command = SendCommand(
        idempotency_key=request.idempotency_key,
        order_id=request.order_id,
        customer_id=request.customer_id,
        template=request.template,
        locale=request.locale,
        variables=dict(request.variables),
        items=tuple(
            LineItem(item.name, item.quantity, item.line_total, item.unit_price)
            for item in request.items
        ),
        channels=tuple(channels),
        email=request.recipient.email.strip(),
        phone=request.recipient.phone.strip(),
        callback_url=request.callback_url.strip(),
    )
    return command, problems


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1_000_000_000))
    return stamp


def _notification(n: Notification) -> notify_pb2.Notification:
    return notify_pb2.Notification(
        notification_id=n.notification_id,
        idempotency_key=n.idempotency_key,
        order_id=n.order_id,
        customer_id=n.customer_id,
        template=n.template,
        locale=n.locale,
        subject=n.subject,
        create_time=_timestamp(n.create_time),
        update_time=_timestamp(n.update_time),
        deliveries=[
            notify_pb2.ChannelDelivery(
                channel=_CHANNEL_TO_PROTO[d.channel],
                status=_enum(notify_pb2.DeliveryStatus, "DELIVERY_STATUS_", d.status),
                destination=d.destination,
                provider_message_id=d.provider_message_id,
                last_error=d.last_error,
                attempts=[
                    notify_pb2.DeliveryAttempt(
                        number=a.number,
                        attempt_time=_timestamp(a.attempt_time),
                        outcome=_enum(notify_pb2.AttemptOutcome, "ATTEMPT_OUTCOME_", a.outcome),
                        provider_message_id=a.provider_message_id,
                        error=a.error,
                        duration_ms=a.duration_ms,
                    )
                    for a in d.attempts
                ],
            )
            for d in n.deliveries
        ],
    )


def _enum(wrapper: Any, prefix: str, value: str) -> Any:
    return wrapper.Value(prefix + value)


def register(server: grpc.aio.Server, servicer: NotificationServicer) -> None:
    notify_pb2_grpc.add_NotificationServiceServicer_to_server(servicer, server)
