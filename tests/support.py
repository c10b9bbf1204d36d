"""Test helpers shared by the suites: tokens as call metadata, in-process servers on port 0."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc

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
