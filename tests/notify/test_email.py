"""Email over real SMTP (an aiosmtpd server in the test): once per key, bounces, outages."""

from __future__ import annotations

import asyncio
import dataclasses
from email import message_from_bytes, policy

import grpc
import pytest
from google.rpc import error_details_pb2
from psycopg_pool import AsyncConnectionPool
from shop.notify.v1 import notify_pb2

from notify_svc import store
from notify_svc.config import RetryPolicy, Settings
from svckit.rpcerrors import details_of, error_info
from tests.notify.conftest import (
    Client,
    ScriptedMailServer,
    confirmation,
    delivery,
    new_order_id,
    running,
)

pytestmark = pytest.mark.integration


def parsed(mail: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(mail, policy=policy.default)


async def test_ten_concurrent_duplicates_send_exactly_one_email(
    client: Client, mail: ScriptedMailServer
) -> None:
    # Given one order confirmation sent ten times at once with the same key
    order_id = new_order_id()
    request = confirmation(order_id)
    responses = await asyncio.gather(*(client.send(request) for _ in range(10)))
    # Then exactly one email reaches the SMTP server and every caller sees the same notification
    assert len(mail.to(request.recipient.email)) == 1
    ids = {r.notification.notification_id for r in responses}
    assert len(ids) == 1
    assert sum(not r.replayed for r in responses) == 1
    for response in responses:
        email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
        assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
        assert len(email.attempts) == 1
    # And a later retry of the key replays without sending
    again = await client.send(request)
    assert again.replayed
    assert len(mail.to(request.recipient.email)) == 1


async def test_confirmation_email_content(client: Client, mail: ScriptedMailServer) -> None:
    order_id = new_order_id()
    request = confirmation(order_id, item_name="<script>alert('x')</script> mug")
    response = await client.send(request)
    (received,) = mail.to(request.recipient.email)
    message = parsed(received.content)
    assert message["Subject"] == f"Your order {order_id} is confirmed"
    assert message["Message-ID"] == delivery(
        response.notification, notify_pb2.CHANNEL_EMAIL).provider_message_id
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; mug" in html
    assert "39.97 EUR" in text and "2 x <script>alert('x')</script> mug" in text


async def test_spanish_email_and_english_fallback(
    client: Client, mail: ScriptedMailServer
) -> None:
    spanish = confirmation(new_order_id(), locale="es-ES")
    await client.send(spanish)
    (received,) = mail.to(spanish.recipient.email)
    message = parsed(received.content)
    assert message["Subject"].startswith("Tu pedido")
    assert "Gracias por tu compra" in message.get_body(("plain",)).get_content()
    assert message["Content-Language"] == "es"

    german = confirmation(new_order_id(), locale="de-DE")
    response = await client.send(german)
    assert response.notification.locale == "en"
    (received,) = mail.to(german.recipient.email)
    assert parsed(received.content)["Subject"].startswith("Your order")


async def test_smtp_550_bounces_without_retry(client: Client, mail: ScriptedMailServer) -> None:
    # Given a mail server that rejects the recipient permanently
    mail.reject = "550 5.1.1 mailbox unavailable"
    request = confirmation(new_order_id())
    # When the confirmation is sent
    response = await client.send(request)
    # Then the call succeeds with the channel BOUNCED after a single attempt
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_BOUNCED
    assert [a.outcome for a in email.attempts] == [notify_pb2.ATTEMPT_OUTCOME_PERMANENT_ERROR]
    assert "550" in email.last_error
    # And a retry with the same key does not try again
    mail.reject = None
    again = await client.send(request)
    assert again.replayed
    assert len(delivery(again.notification, notify_pb2.CHANNEL_EMAIL).attempts) == 1
    assert mail.to(request.recipient.email) == []


async def test_smtp_4xx_is_retried_in_the_call(client: Client, mail: ScriptedMailServer) -> None:
    # Given a mail server that answers 451 (try later) once
    mail.reject, mail.reject_times = "451 4.3.0 try again later", 1
    request = confirmation(new_order_id())
    response = await client.send(request)
    # Then the call retried by itself and delivered on the second attempt
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert [a.outcome for a in email.attempts] == [
        notify_pb2.ATTEMPT_OUTCOME_TRANSIENT_ERROR, notify_pb2.ATTEMPT_OUTCOME_DELIVERED]
    assert "451" in email.attempts[0].error
    assert len(mail.to(request.recipient.email)) == 1


async def test_server_down_then_back_is_retried_and_delivered(
    settings: Settings, notify_pool: AsyncConnectionPool, mail: ScriptedMailServer
) -> None:
    # Given the SMTP server is down when the confirmation is sent
    slow = dataclasses.replace(settings, email_retry=RetryPolicy(5, 0.1))
    await mail.down()
    request = confirmation(new_order_id())

    async def come_back() -> None:
        await asyncio.sleep(0.15)
        await mail.up()

    async with running(slow, notify_pool) as client:
        response, _ = await asyncio.gather(client.send(request), come_back())
    # Then the failed attempts are recorded and the mail is delivered once when it returns
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    outcomes = [a.outcome for a in email.attempts]
    assert outcomes[0] == notify_pb2.ATTEMPT_OUTCOME_TRANSIENT_ERROR
    assert outcomes[-1] == notify_pb2.ATTEMPT_OUTCOME_DELIVERED
    assert [a.number for a in email.attempts] == list(range(1, len(outcomes) + 1))
    assert len(mail.to(request.recipient.email)) == 1


async def test_outage_longer_than_retries_is_unavailable_then_resumes(
    client: Client, mail: ScriptedMailServer
) -> None:
    # Given the SMTP server stays down through all in-call retries
    await mail.down()
    request = confirmation(new_order_id())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.send(request)
    # Then the caller is told to retry later, with a hint
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "DELIVERY_PENDING"
    status = details_of(caught.value)
    assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
    listed = await client.list(request.order_id)
    email = delivery(listed.notifications[0], notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_PENDING
    assert len(email.attempts) == 3  # NOTIFY_EMAIL_MAX_ATTEMPTS in the test settings
    # When the server is back and the caller retries with the same key
    await mail.up()
    response = await client.send(request)
    # Then the channel resumes (attempt 4) and the mail arrives once
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert [a.number for a in email.attempts] == [1, 2, 3, 4]
    assert len(mail.to(request.recipient.email)) == 1


async def test_record_mode_stores_the_message_instead_of_sending(
    settings: Settings, notify_pool: AsyncConnectionPool, mail: ScriptedMailServer
) -> None:
    recording = dataclasses.replace(settings, email_mode="record")
    request = confirmation(new_order_id())
    async with running(recording, notify_pool) as client:
        response = await client.send(request)
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert mail.to(request.recipient.email) == []
    async with notify_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT message_id, rcpt_to, message FROM notify.recorded_emails"
            " WHERE notification_id = %s", (response.notification.notification_id,))
        row = await cur.fetchone()
    assert row["message_id"] == email.provider_message_id
    assert row["rcpt_to"] == request.recipient.email
    assert "Subject: Your order" in row["message"]


async def test_a_crashed_deliverers_lease_expires_and_is_taken_over(
    client: Client, mail: ScriptedMailServer
) -> None:
    # Given a pending notification whose lease is held by a deliverer that died
    await mail.down()
    request = confirmation(new_order_id())
    with pytest.raises(grpc.aio.AioRpcError):
        await client.send(request)
    pending = await store.get_by_key(client.deps.pool, request.idempotency_key)
    assert await store.claim(client.deps.pool, pending.notification_id, "dead-worker", 0.3)
    await mail.up()
    # When the caller retries, a live lease makes it wait; an expired one is taken over
    response = await client.send(request)
    email = delivery(response.notification, notify_pb2.CHANNEL_EMAIL)
    assert email.status == notify_pb2.DELIVERY_STATUS_DELIVERED
    assert len(mail.to(request.recipient.email)) == 1


async def test_a_delivery_in_progress_past_the_deadline_is_unavailable(
    client: Client, mail: ScriptedMailServer
) -> None:
    await mail.down()
    request = confirmation(new_order_id())
    with pytest.raises(grpc.aio.AioRpcError):
        await client.send(request)
    pending = await store.get_by_key(client.deps.pool, request.idempotency_key)
    assert await store.claim(client.deps.pool, pending.notification_id, "busy-worker", 30)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.send(request, deadline=1.0)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(caught.value).reason == "DELIVERY_IN_PROGRESS"
    finally:
        await store.release(client.deps.pool, pending.notification_id, "busy-worker")
