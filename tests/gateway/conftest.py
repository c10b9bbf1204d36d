"""Gateway fixtures: a test-only annotated gRPC service on port 0 and a gateway in front of it."""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_tools import protoc

from gateway.app import Gateway, build_app
from gateway.config import Settings
from gateway.passwords import Passwords
from gateway.ratelimit import Rule
from scripts.gen_protos import googleapis_root, well_known_root
from svckit.rpcerrors import RpcFailure

PROTO_ROOT = Path(__file__).parent / "proto"
ECHO_SERVICE = "gwtest.v1.EchoService"
ECHOED_METADATA = (
    "authorization",
    "idempotency-key",
    "x-request-id",
    "x-custom",
    "accept-language",
)


@pytest.fixture(scope="session")
def echo_modules() -> Iterator[tuple[ModuleType, ModuleType]]:
    """gwtest/v1/echo.proto compiled into a temporary folder and imported."""
    out = Path(tempfile.mkdtemp(prefix="gw-proto-"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{googleapis_root()}",
        f"-I{well_known_root()}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "gwtest/v1/echo.proto",
    ]
    assert protoc.main(args) == 0
    sys.path.insert(0, str(out))
    yield (
        importlib.import_module("gwtest.v1.echo_pb2"),
        importlib.import_module("gwtest.v1.echo_pb2_grpc"),
    )


def make_servicer(pb2: ModuleType, pb2_grpc: ModuleType) -> Any:
    def echo(method: str, request: Any, context: grpc.aio.ServicerContext, **extra: Any) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() if k in ECHOED_METADATA}
        remaining = context.time_remaining()
        return pb2.Echo(
            method=method,
            request_json=json_format.MessageToJson(request, preserving_proto_field_name=True),
            metadata=metadata,
            deadline_seconds=remaining if remaining is not None else -1.0,
            **extra,
        )

    class Servicer(pb2_grpc.EchoServiceServicer):  # type: ignore[misc, name-defined]
        async def GetThing(self, request: Any, context: Any) -> Any:
            return echo("GetThing", request, context)

        async def CreateThing(self, request: Any, context: Any) -> Any:
            return echo("CreateThing", request, context, thing=request)

        async def UpdateThing(self, request: Any, context: Any) -> Any:
            return echo("UpdateThing", request, context, thing=request.thing)

        async def DeleteThing(self, request: Any, context: Any) -> Any:
            return echo("DeleteThing", request, context)

        async def DoThing(self, request: Any, context: Any) -> Any:
            return echo("DoThing", request, context)

        async def GetBook(self, request: Any, context: Any) -> Any:
            return echo("GetBook", request, context)

        async def Fail(self, request: Any, context: Any) -> Any:
            code = next(c for c in grpc.StatusCode if c.value[0] == request.code)
            failure = RpcFailure(
                code,
                request.message or f"failed with {code.name}",
                reason=request.reason or None,
                violations=[(v, "is wrong") for v in request.violations],
                retry_after=request.retry_after or None,
            )
            await context.abort_with_status(failure.to_status())

        async def Accept(self, request: Any, context: Any) -> Any:
            await context.send_initial_metadata(
                (("x-http-code", "202"), ("location", f"/test/v1/things/{request.thing_id}"))
            )
            context.set_trailing_metadata((("idempotent-replayed", "true"),))
            return echo("Accept", request, context, thing=request)

        async def Watch(self, request: Any, context: Any) -> Any:
            for seq in range(request.count):
                yield echo("Watch", request, context, seq=seq)
            if request.fail_code:
                code = next(c for c in grpc.StatusCode if c.value[0] == request.fail_code)
                failure = RpcFailure(code, "stream broke", reason="STREAM_BROKE")
                await context.abort_with_status(failure.to_status())

    return Servicer()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def echo_server(
    echo_modules: tuple[ModuleType, ModuleType],
) -> AsyncIterator[tuple[int, health.aio.HealthServicer]]:
    pb2, pb2_grpc = echo_modules
    server = grpc.aio.server()
    pb2_grpc.add_EchoServiceServicer_to_server(make_servicer(pb2, pb2_grpc), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set(ECHO_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port, health_servicer
    await server.stop(0)


def gateway_settings(
    database_url: str, redis_url: str, secret: str, upstreams: dict[str, str], **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "upstreams": upstreams,
        "proto_modules": (),
        "jwt_secret": secret,
        "database_url": database_url,
        "redis_url": redis_url,
        "cors_origins": ("https://shop.example",),
        "rate_limit": Rule(0, 60),
        "login_rate_limit": Rule(0, 60),
        "trust_forwarded": True,
        "max_body_bytes": 1024 * 1024,
        "upstream_timeout": 5.0,
        "access_ttl": 900.0,
        "refresh_ttl": 7 * 86400.0,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "log_level": "INFO",
    }
    values.update(overrides)
    return Settings(**values)


FAST_PASSWORDS = Passwords(time_cost=1, memory_kib=1024)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def gateway(
    database_url: str, redis_url: str, secret: str, echo_server: tuple[int, Any]
) -> AsyncIterator[Gateway]:
    port, _ = echo_server
    settings = gateway_settings(
        database_url, redis_url, secret, {ECHO_SERVICE: f"127.0.0.1:{port}"}
    )
    gw = await Gateway.create(settings, passwords=FAST_PASSWORDS)
    yield gw
    await gw.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(gateway), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def sent(response: httpx.Response) -> dict[str, Any]:
    """The request message the echo server received, in proto field names."""
    return json.loads(response.json()["requestJson"])  # type: ignore[no-any-return]


def assert_status_body(response: httpx.Response, http_status: int, code: int) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    return body  # type: ignore[no-any-return]


def violation_fields(body: dict[str, Any]) -> list[str]:
    return [
        v["field"]
        for d in body["details"]
        if d["@type"].endswith("google.rpc.BadRequest")
        for v in d["fieldViolations"]
    ]


def reason(body: dict[str, Any]) -> str | None:
    for detail in body["details"]:
        if detail["@type"].endswith("google.rpc.ErrorInfo"):
            return detail["reason"]  # type: ignore[no-any-return]
    return None
