"""grpc.aio channels to the fronted services and generic calls by method path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.descriptors import Route
from svckit.clients import channel


@dataclass
class UnaryResult:
    response: message.Message
    metadata: list[tuple[str, str | bytes]]


class Upstreams:
    """One channel per target, shared by every route to it."""

    def __init__(self, targets: dict[str, str]) -> None:
        self.targets = dict(targets)  # service name -> host:port
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, target: str) -> grpc.aio.Channel:
        if target not in self._channels:
            self._channels[target] = channel(target)
        return self._channels[target]

    async def unary(
        self,
        route: Route,
        request: message.Message,
        metadata: Sequence[tuple[str, str]],
        deadline: float | None,
    ) -> UnaryResult:
        call_factory = self.channel(route.target).unary_unary(
            route.grpc_path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        call = call_factory(request, metadata=tuple(metadata), timeout=deadline)
        response = await call
        pairs = list(await call.initial_metadata() or ()) + list(
            await call.trailing_metadata() or ()
        )
        return UnaryResult(response, pairs)

    def stream(
        self,
        route: Route,
        request: message.Message,
        metadata: Sequence[tuple[str, str]],
        deadline: float | None,
    ) -> grpc.aio.UnaryStreamCall:
        call_factory = self.channel(route.target).unary_stream(
            route.grpc_path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        return call_factory(request, metadata=tuple(metadata), timeout=deadline)

    async def health(self, wait: float = 1.0) -> dict[str, str]:
        """Service name → its gRPC health status name (or the error met asking)."""

        async def one(name: str, target: str) -> tuple[str, str]:
            stub = health_pb2_grpc.HealthStub(self.channel(target))
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=wait)
            except grpc.aio.AioRpcError as exc:
                return name, exc.code().name
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        results = await asyncio.gather(*(one(n, t) for n, t in self.targets.items()))
        return dict(results)

    async def close(self) -> None:
        for chan in self._channels.values():
            await chan.close()
        self._channels.clear()


async def messages(call: grpc.aio.UnaryStreamCall) -> AsyncIterator[message.Message]:
    async for item in call:
        yield item
