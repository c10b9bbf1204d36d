"""grpc.aio server bootstrap: reflection, health driven by a probe, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from svckit.interceptor import ServerInterceptor

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]
Probe = Callable[[], Awaitable[bool]]


@dataclass
class Service:
    """A gRPC server's pieces: services to register, the probe behind its health."""

    names: Sequence[str]
    register: Registrar
    probe: Probe
    secret: str
    public_methods: Sequence[str] = ()
    health: health.aio.HealthServicer = field(default_factory=health.aio.HealthServicer)


class _Reflection(ReflectionServicer):  # type: ignore[misc]
    """Server reflection that also resolves method symbols ("pkg.Service.Method").

    The upb descriptor pool finds services and messages but not methods, so `grpcurl describe
    pkg.Service.Method` (and ghz's method lookup) would fail: a method resolves to its service.
    """

    def _file_containing_symbol(self, request: object, fully_qualified_name: str) -> object:
        try:
            self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            parent = fully_qualified_name.rpartition(".")[0]
            if parent in self._service_names:
                fully_qualified_name = parent
        return super()._file_containing_symbol(request, fully_qualified_name)


def create_server(service: Service, address: str) -> tuple[grpc.aio.Server, int]:
    """A server bound to `address` ('127.0.0.1:0' picks a free port) and the port it got."""
    server = grpc.aio.server(
        interceptors=[ServerInterceptor(service.secret, service.public_methods)],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ],
    )
    service.register(server)
    health_pb2_grpc.add_HealthServicer_to_server(service.health, server)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        _Reflection(
            [
                *service.names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ]
        ),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    return server, port


async def set_health(service: Service, serving: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", *service.names):
        await service.health.set(name, status)


async def watch_health(service: Service, interval: float = 1.0) -> None:
    """Keeps health in step with the probe (NOT_SERVING while the database is away)."""
    last: bool | None = None
    while True:
        ok = await service.probe()
        if ok != last:
            await set_health(service, ok)
            log.info("health changed", extra={"serving": ok, "services": list(service.names)})
            last = ok
        await asyncio.sleep(interval)


async def serve(
    service: Service,
    address: str,
    *,
    grace: float = 10.0,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    health_interval: float = 1.0,
) -> None:
    """Runs until SIGTERM/SIGINT: then NOT_SERVING, drain in-flight calls for `grace`, stop."""
    server, port = create_server(service, address)
    await set_health(service, False)
    await server.start()
    log.info("serving", extra={"address": address, "port": port, "services": list(service.names)})
    tasks = [asyncio.create_task(watch_health(service, health_interval))]
    tasks += [asyncio.create_task(job()) for job in background]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    done_wait: asyncio.Task[Any] = asyncio.create_task(server.wait_for_termination())
    stop_wait: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    await asyncio.wait({done_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping: draining in-flight calls", extra={"grace_seconds": grace})
    for task in tasks:
        task.cancel()
    await set_health(service, False)
    await server.stop(grace)
    for task in (done_wait, stop_wait):
        task.cancel()
    log.info("stopped")
