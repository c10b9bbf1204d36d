"""The gRPC contract: invalid input, roles, key reuse, ListNotifications visibility, SMS."""

from __future__ import annotations

import random

import grpc
import pytest
from google.rpc import error_details_pb2
from shop.notify.v1 import notify_pb2

from notify_svc import store
from svckit.rpcerrors import details_of, error_info
from tests.notify.conftest import Client, confirmation, delivery, new_order_id

pytestmark = pytest.mark.integration

SMS = (notify_pb2.CHANNEL_SMS,)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = details_of(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return {v.field: v.description for v in bad.field_violations}
    return {}


async def invalid(client: Client, request: notify_pb2.SendRequest) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.send(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return violations(caught.value)


@pytest.mark.parametrize("change,field", [
    ({"template": "WELCOME"}, "template"),
    ({"email": "not-an-email"}, "recipient.email"),
    ({"key": ""}, "idempotency_key"),
    ({"channels": SMS, "phone": "600 111 222"}, "recipient.phone"),
    ({"channels": (notify_pb2.CHANNEL_WEBHOOK,), "callback_url": "file:///etc/passwd"},
     "callback_url"),
    ({"channels": ()}, "channels"),
    ({"channels": (7,)}, "channels[0]"),
])
async def test_invalid_input_names_the_field(client: Client, change: dict, field: str) -> None:
    request = confirmation(new_order_id(), **change)
    assert field in await invalid(client, request)


async def test_missing_template_variable_is_invalid_and_stores_nothing(client: Client) -> None:
    order_id = new_order_id()
    request = confirmation(order_id, template="ORDER_CANCELLED")
    del request.variables["cancel_reason"]
    assert "variables.cancel_reason" in await invalid(client, request)
    assert list((await client.list(order_id)).notifications) == []


async def test_every_violation_is_reported_at_once(client: Client) -> None:
    request = confirmation(new_order_id(), key="", template="NOPE", email="x",
                           channels=(notify_pb2.CHANNEL_EMAIL, *SMS), phone="123")
    fields = set(await invalid(client, request))
    assert {"idempotency_key", "template", "recipient.email", "recipient.phone"} <= fields


async def test_key_reused_with_a_different_request(client: Client) -> None:
    request = confirmation(new_order_id())
    await client.send(request)
    changed = notify_pb2.SendRequest()
    changed.CopyFrom(request)
    changed.variables["total"] = "1.00"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.send(changed)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_customers_cannot_send_and_anonymous_calls_are_refused(client: Client) -> None:
    request = confirmation(new_order_id())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.send(request, role="customer", subject="cust-1")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.stub.ListNotifications(
            notify_pb2.ListNotificationsRequest(order_id=request.order_id), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_list_notifications_owner_admin_and_strangers(client: Client) -> None:
    order_id = new_order_id()
    await client.send(confirmation(order_id, customer_id="cust-owner"))
    await client.send(confirmation(order_id, customer_id="cust-owner", template="ORDER_CANCELLED",
                                   key=f"{order_id}:SEND_CANCELLATION"))
    own = await client.list(order_id, role="customer", subject="cust-owner")
    assert [n.template for n in own.notifications] == ["ORDER_CONFIRMED", "ORDER_CANCELLED"]
    attempt = delivery(own.notifications[0], notify_pb2.CHANNEL_EMAIL).attempts[0]
    assert attempt.outcome == notify_pb2.ATTEMPT_OUTCOME_DELIVERED
    assert attempt.provider_message_id and attempt.attempt_time.seconds > 0
    assert len((await client.list(order_id, role="admin")).notifications) == 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.list(order_id, role="customer", subject="cust-stranger")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert list((await client.list(new_order_id(), role="admin")).notifications) == []


async def test_sms_segments_opt_out_and_rate_limit(client: Client) -> None:
    phone, other = (f"+3460{random.randrange(10**7):07d}" for _ in range(2))
    # Delivered: the simulator records the message with a provider id
    first = await client.send(confirmation(new_order_id(), channels=SMS, phone=phone))
    sms = delivery(first.notification, notify_pb2.CHANNEL_SMS)
    assert sms.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert sms.provider_message_id.startswith("SM")
    async with client.deps.pool.connection() as conn:
        cur = await conn.execute("SELECT body, segments, encoding FROM notify.sms_messages"
                                 " WHERE provider_message_id = %s", (sms.provider_message_id,))
        row = await cur.fetchone()
    assert "confirmed" in row["body"] and row["segments"] == 1 and row["encoding"] == "GSM-7"
    # Rate limit (3 per window in the test settings): the 4th is pending, retry later
    for _ in range(2):
        await client.send(confirmation(new_order_id(), channels=SMS, phone=phone))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.send(confirmation(new_order_id(), channels=SMS, phone=phone))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    # Opted-out numbers are suppressed, not sent
    await store.opt_out(client.deps.pool, other)
    response = await client.send(confirmation(new_order_id(), channels=SMS, phone=other))
    sms = delivery(response.notification, notify_pb2.CHANNEL_SMS)
    assert sms.status == notify_pb2.DELIVERY_STATUS_SUPPRESSED
    assert sms.attempts[0].outcome == notify_pb2.ATTEMPT_OUTCOME_PERMANENT_ERROR
