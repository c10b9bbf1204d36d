"""Notify fixtures: a pool on the session database, a real SMTP server, a real HTTP receiver,
and a real gRPC server per test built from settings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from shop.notify.v1 import notify_pb2, notify_pb2_grpc

from devstack.servers import free_port
from notify_svc import smtp_sink
from notify_svc.__main__ import build_deps, service
from notify_svc.config import RetryPolicy, Settings
from notify_svc.handlers import Deps
from svckit import db, grpcserver
from svckit.auth import issue_token


class ScriptedMailServer(smtp_sink.MailFolder):
    """A real SMTP server on a fixed port that can reject recipients or go down and come back."""

    def __init__(self, port: int) -> None:
        super().__init__(None)
        self.port = port
        self.reject: str | None = None
        self.reject_times: int | None = None  # None: reject every recipient while `reject` set
        self._server: asyncio.Server | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.reject and self.reject_times != 0:
            if self.reject_times is not None:
                self.reject_times -= 1
            return self.reject
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def up(self) -> None:
        if self._server is None:
            self._server = await smtp_sink.start(self, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def to(self, address: str) -> list[smtp_sink.ReceivedMail]:
        return [mail for mail in self.received if address in mail.rcpt_tos]


@dataclasses.dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


STALL = -1  # a Receiver script entry: answer too late


class Receiver:
    """A minimal real HTTP/1.1 server: answers scripted status codes, records every request."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.script: list[int] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def for_path(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                _, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.hits.append(Hit(path, headers, body))
                code = self.script.pop(0) if self.script else 200
                if code == STALL:
                    await asyncio.sleep(1.0)  # longer than the client's timeout in the tests
                    code = 200
                payload = json.dumps({"code": code}).encode()
                writer.write(
                    f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def notify_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await db.open_pool(database_url, name="notify-tests", min_size=1, max_size=20)
    await pool.wait(timeout=10)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def mail_server() -> AsyncIterator[ScriptedMailServer]:
    server = ScriptedMailServer(free_port())
    await server.up()
    yield server
    await server.down()


@pytest_asyncio.fixture(loop_scope="session")
async def mail(mail_server: ScriptedMailServer) -> AsyncIterator[ScriptedMailServer]:
    """The session's SMTP server, up and accepting, restored after the test."""
    mail_server.reject, mail_server.reject_times = None, None
    await mail_server.up()
    yield mail_server
    mail_server.reject, mail_server.reject_times = None, None
    await mail_server.up()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


WEBHOOK_SECRET = "whsec-test-0123456789"


@pytest.fixture
def settings(database_url: str, secret: str, mail_server: ScriptedMailServer) -> Settings:
    """Fast settings: tiny backoffs, real SMTP to the test server, loopback allow-listed."""
    return Settings(
        database_url=database_url,
        jwt_secret=secret,
        email_mode="smtp",
        smtp_host="127.0.0.1",
        smtp_port=mail_server.port,
        smtp_timeout=5.0,
        email_retry=RetryPolicy(3, 0.05),
        webhook_secret=WEBHOOK_SECRET,
        webhook_allowlist=("127.0.0.0/8",),
        webhook_timeout=2.0,
        webhook_retry=RetryPolicy(4, 0.02),
        sms_rate_limit=3,
        sms_rate_window=60.0,
        retry_after=0.5,
        delivery_lease=30.0,
        in_progress_wait=10.0,
    )


class Client:
    """A real gRPC channel to a NotificationService on port 0, with tokens for each role."""

    def __init__(self, stub: notify_pb2_grpc.NotificationServiceStub, secret: str,
                 deps: Deps) -> None:
        self.stub = stub
        self.secret = secret
        self.deps = deps

    def auth(self, role: str = "service", subject: str = "orchestrator") -> list[tuple[str, str]]:
        token = issue_token(self.secret, subject, role, ttl_seconds=300)
        return [("authorization", f"Bearer {token}")]

    async def send(self, request: notify_pb2.SendRequest, *, role: str = "service",
                   subject: str = "orchestrator", deadline: float = 15.0
                   ) -> notify_pb2.SendResponse:
        return await self.stub.Send(request, metadata=self.auth(role, subject), timeout=deadline)

    async def list(self, order_id: str, *, role: str = "admin", subject: str = "admin-1"
                   ) -> notify_pb2.ListNotificationsResponse:
        return await self.stub.ListNotifications(
            notify_pb2.ListNotificationsRequest(order_id=order_id),
            metadata=self.auth(role, subject), timeout=10,
        )


@asynccontextmanager
async def running(settings: Settings, pool: AsyncConnectionPool) -> AsyncIterator[Client]:
    deps, webhook = build_deps(settings, pool)
    svc = service(settings, deps)
    server, port = grpcserver.create_server(svc, "127.0.0.1:0")
    await server.start()
    await grpcserver.set_health(svc, True)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Client(notify_pb2_grpc.NotificationServiceStub(channel), settings.jwt_secret, deps)
    finally:
        await channel.close()
        await server.stop(None)
        await webhook.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def client(settings: Settings, notify_pool: AsyncConnectionPool) -> AsyncIterator[Client]:
    async with running(settings, notify_pool) as c:
        yield c


def new_order_id() -> str:
    return str(uuid.uuid4())


def confirmation(
    order_id: str,
    *,
    channels: tuple[int, ...] = (notify_pb2.CHANNEL_EMAIL,),
    locale: str = "en",
    email: str | None = None,
    phone: str = "",
    callback_url: str = "",
    item_name: str = "Blue mug",
    customer_id: str = "cust-1",
    template: str = "ORDER_CONFIRMED",
    key: str | None = None,
) -> notify_pb2.SendRequest:
    """The request the saga sends for step SEND_CONFIRMATION."""
    return notify_pb2.SendRequest(
        idempotency_key=key if key is not None else f"{order_id}:SEND_CONFIRMATION",
        order_id=order_id,
        customer_id=customer_id,
        template=template,
        locale=locale,
        variables={"customer_name": "Ana", "total": "39.97", "currency": "EUR",
                   "cancel_reason": "OUT_OF_STOCK"},
        items=[
            notify_pb2.LineItem(name=item_name, quantity=2, line_total="19.98",
                                unit_price="9.99"),
            notify_pb2.LineItem(name="Teapot", quantity=1, line_total="19.99",
                                unit_price="19.99"),
        ],
        channels=list(channels),
        recipient=notify_pb2.Recipient(
            email=email if email is not None else f"{order_id[:8]}@example.com", phone=phone
        ),
        callback_url=callback_url,
    )


def delivery(response: notify_pb2.Notification, channel: int) -> notify_pb2.ChannelDelivery:
    return next(d for d in response.deliveries if d.channel == channel)

