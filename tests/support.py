"""Test helpers shared by the suites: tokens as call metadata, in-process servers on port 0."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from svckit import auth
from svckit.grpcserver import Service, create_server, set_health


def bearer(secret: str, role: str, subject: str = "", **claims: str) -> list[tuple[str, str]]:
    token = auth.issue_token(secret, subject or f"{role}-1", role, ttl_seconds=600, **claims)
    return [("authorization", f"Bearer {token}")]


@contextlib.asynccontextmanager
async def serving(service: Service) -> AsyncIterator[tuple[grpc.aio.Channel, int]]:
    """A real server on a free port with health SERVING, and a channel to it."""
    server, port = create_server(service, "127.0.0.1:0")
    await server.start()
    await set_health(service, True)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, port
    finally:
        await channel.close()
        await server.stop(0)


async def wait_serving(
    port: int, is_alive: Callable[[], bool], name: str, timeout: float = 30.0
) -> None:
    """Waits until a server process's gRPC health is SERVING; fails if it exits or times out."""
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert is_alive(), f"{name} exited before serving"
            if await _serving(stub):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{name} did not become SERVING within {timeout}s")


async def _serving(stub: health_pb2_grpc.HealthStub) -> bool:
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
    except grpc.aio.AioRpcError:
        return False  # not listening yet
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
