"""Webhooks to a real HTTP receiver: signature, retries on 5xx, none on 4xx, the SSRF guard."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from psycopg_pool import AsyncConnectionPool
from shop.notify.v1 import notify_pb2

from notify_svc.config import Settings
from notify_svc.domain import verify_webhook_signature
from tests.notify.conftest import (
    STALL,
    WEBHOOK_SECRET,
    Client,
    Receiver,
    confirmation,
    delivery,
    new_order_id,
    running,
)

pytestmark = pytest.mark.integration

WEBHOOK = (notify_pb2.CHANNEL_WEBHOOK,)


async def test_receiver_verifies_the_signature(client: Client, receiver: Receiver) -> None:
    order_id = new_order_id()
    request = confirmation(order_id, channels=WEBHOOK, callback_url=receiver.url("/hooks/a"))
    response = await client.send(request)
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    (hit,) = receiver.for_path("/hooks/a")
    timestamp, signature = hit.headers["x-timestamp"], hit.headers["x-signature"]
    # The receiver's check: hex HMAC-SHA256(secret, "<timestamp>.<raw body>"), fresh timestamp
    assert verify_webhook_signature(WEBHOOK_SECRET, timestamp, hit.body, signature)
    assert abs(time.time() - int(timestamp)) < 60
    assert not verify_webhook_signature("wrong-secret", timestamp, hit.body, signature)
    assert not verify_webhook_signature(WEBHOOK_SECRET, timestamp, hit.body + b" ", signature)
    body = json.loads(hit.body)
    assert body["event"] == "ORDER_CONFIRMED" and body["order_id"] == order_id
    assert body["items"][0]["line_total"] == "19.98"
    assert hit.headers["x-notification-id"] == response.notification.notification_id
    assert hit.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert hook.provider_message_id == hit.headers["x-webhook-id"]


async def test_500_twice_then_200_is_delivered_on_the_third_attempt(
    client: Client, receiver: Receiver
) -> None:
    # Given a receiver failing twice with 500
    receiver.script = [500, 500, 200]
    request = confirmation(new_order_id(), channels=WEBHOOK, callback_url=receiver.url("/h/b"))
    # When the notification is sent
    response = await client.send(request)
    # Then it is delivered on the third attempt and all three attempts are recorded
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert [(a.number, a.outcome) for a in hook.attempts] == [
        (1, notify_pb2.ATTEMPT_OUTCOME_TRANSIENT_ERROR),
        (2, notify_pb2.ATTEMPT_OUTCOME_TRANSIENT_ERROR),
        (3, notify_pb2.ATTEMPT_OUTCOME_DELIVERED),
    ]
    assert hook.attempts[0].error == "HTTP 500"
    assert len(receiver.for_path("/h/b")) == 3
    listed = await client.list(request.order_id)
    assert len(delivery(listed.notifications[0], notify_pb2.CHANNEL_WEBHOOK).attempts) == 3


async def test_timeout_is_retried(
    settings: Settings, notify_pool: AsyncConnectionPool, receiver: Receiver
) -> None:
    receiver.script = [STALL, 200]
    impatient = dataclasses.replace(settings, webhook_timeout=0.2)
    request = confirmation(new_order_id(), channels=WEBHOOK, callback_url=receiver.url("/h/t"))
    async with running(impatient, notify_pool) as client:
        response = await client.send(request)
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert [a.outcome for a in hook.attempts] == [
        notify_pb2.ATTEMPT_OUTCOME_TRANSIENT_ERROR, notify_pb2.ATTEMPT_OUTCOME_DELIVERED]
    assert hook.attempts[0].error.startswith("timeout")


async def test_400_is_not_retried(client: Client, receiver: Receiver) -> None:
    receiver.script = [400]
    request = confirmation(new_order_id(), channels=WEBHOOK, callback_url=receiver.url("/h/c"))
    response = await client.send(request)
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_FAILED
    assert [a.outcome for a in hook.attempts] == [notify_pb2.ATTEMPT_OUTCOME_PERMANENT_ERROR]
    assert len(receiver.for_path("/h/c")) == 1
    again = await client.send(request)
    assert again.replayed and len(receiver.for_path("/h/c")) == 1


async def test_private_address_is_refused_unless_allow_listed(
    settings: Settings, notify_pool: AsyncConnectionPool, receiver: Receiver
) -> None:
    # Given no allow-list: "localhost" resolves to a loopback address
    guarded = dataclasses.replace(settings, webhook_allowlist=())
    refused = confirmation(new_order_id(), channels=WEBHOOK,
                           callback_url=receiver.url("/h/d", host="localhost"))
    async with running(guarded, notify_pool) as client:
        response = await client.send(refused)
    # Then the channel fails permanently without any request leaving the service
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_FAILED
    assert "refused" in hook.last_error and "non-public" in hook.last_error
    assert receiver.for_path("/h/d") == []
    # When the host is allow-listed, the same kind of URL is delivered
    allowed = dataclasses.replace(settings, webhook_allowlist=("localhost",))
    request = confirmation(new_order_id(), channels=WEBHOOK,
                           callback_url=receiver.url("/h/d", host="localhost"))
    async with running(allowed, notify_pool) as client:
        response = await client.send(request)
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert len(receiver.for_path("/h/d")) == 1
    assert receiver.for_path("/h/d")[0].headers["host"] == f"localhost:{receiver.port}"


async def test_email_and_webhook_together_resume_only_the_pending_channel(
    client: Client, receiver: Receiver, mail
) -> None:
    # Given the receiver is failing with 503 for longer than the in-call retries
    receiver.script = [503] * 4
    request = confirmation(new_order_id(), channels=(notify_pb2.CHANNEL_EMAIL, *WEBHOOK),
                           callback_url=receiver.url("/h/e"))
    with pytest.raises(Exception) as caught:
        await client.send(request)
    assert "UNAVAILABLE" in str(caught.value)
    # When the caller retries with the same key after the receiver recovered
    response = await client.send(request)
    # Then only the webhook is retried; the email went out once
    assert len(mail.to(request.recipient.email)) == 1
    hook = delivery(response.notification, notify_pb2.CHANNEL_WEBHOOK)
    assert hook.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert [a.number for a in hook.attempts] == [1, 2, 3, 4, 5]
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert len(email.attempts) == 1
