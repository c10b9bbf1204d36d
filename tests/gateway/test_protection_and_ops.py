"""Rate limits through Redis, the OpenAPI document, the docs page, health, readiness, metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2

from gateway.app import Gateway, build_app
from gateway.ratelimit import RateLimiter, Rule
from svckit import auth
from tests.gateway.conftest import (
    ECHO_SERVICE,
    FAST_PASSWORDS,
    assert_status_body,
    gateway_settings,
    reason,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def limited(
    database_url: str, redis_url: str, secret: str, echo_server: tuple[int, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(
        database_url,
        redis_url,
        secret,
        {ECHO_SERVICE: f"127.0.0.1:{echo_server[0]}"},
        rate_limit=Rule(5, 3600),
        login_rate_limit=Rule(2, 3600),
    )
    gw = await Gateway.create(settings, passwords=FAST_PASSWORDS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(gw)), base_url="http://gw"
    ) as http:
        yield http
    await gw.close()


def from_ip() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}


async def test_rate_limit_per_client_with_retry_after(limited: httpx.AsyncClient) -> None:
    me, other = from_ip(), from_ip()
    statuses = [(await limited.get("/test/v1/things/a", headers=me)).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = await limited.get("/test/v1/things/a", headers=me)
    body = assert_status_body(refused, 429, 8)
    assert reason(body) == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 3601
    # Another client is not affected
    assert (await limited.get("/test/v1/things/a", headers=other)).status_code == 200


async def test_rate_limit_keys_by_token_subject(limited: httpx.AsyncClient, secret: str) -> None:
    token = auth.issue_token(secret, str(uuid.uuid4()), "customer", ttl_seconds=60)
    statuses = []
    for _ in range(6):  # a new IP each time: the token's subject is the key
        headers = {**from_ip(), "Authorization": f"Bearer {token}"}
        statuses.append((await limited.get("/test/v1/things/a", headers=headers)).status_code)
    assert statuses == [200] * 5 + [429]


async def test_login_is_stricter(limited: httpx.AsyncClient) -> None:
    me = from_ip()
    payload = {"email": "nobody@example.com", "password": "whatever123"}
    statuses = [
        (await limited.post("/api/v1/auth/login", json=payload, headers=me)).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


async def test_ops_endpoints_are_not_limited(limited: httpx.AsyncClient) -> None:
    me = from_ip()
    for _ in range(8):
        assert (await limited.get("/healthz", headers=me)).status_code == 200


async def test_openapi_has_every_route_schemas_errors_and_bearer(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    operations = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    for route in gateway.routes:
        assert (route.http_method, route.template.openapi_path()) in operations
    for path in ("register", "login", "refresh", "logout", "me"):
        assert any(p == f"/api/v1/auth/{path}" for _, p in operations)
    create = doc["paths"]["/test/v1/things"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/gwtest.v1.Thing"
    }
    do_body = doc["paths"]["/test/v1/things/{thing_id}:do"]["post"]["requestBody"]
    # a field bound by the path is not part of the body
    assert set(do_body["content"]["application/json"]["schema"]["properties"]) == {"how"}
    thing = doc["components"]["schemas"]["gwtest.v1.Thing"]["properties"]
    assert thing["quantity"] == {"type": "integer", "format": "int32"}
    assert thing["when"] == {"type": "string", "format": "date-time"}
    assert thing["kind"]["enum"] == ["KIND_UNSPECIFIED", "KIND_SMALL", "KIND_LARGE"]
    assert thing["items"]["items"] == {"$ref": "#/components/schemas/gwtest.v1.Item"}
    get = doc["paths"]["/test/v1/things/{thing_id}"]["get"]
    params = {(p["name"], p["in"]) for p in get["parameters"]}
    assert {("thing_id", "path"), ("page_size", "query"), ("inner.note", "query")} <= params
    assert {"400", "401", "404", "429", "503"} <= set(get["responses"])
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "/test/v1/{name}" in doc["paths"]


async def test_docs_page_is_self_contained(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


async def test_healthz_and_readyz(client: httpx.AsyncClient, echo_server: Any) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["upstreams"] == {ECHO_SERVICE: "SERVING"}
    _, health_servicer = echo_server
    await health_servicer.set(ECHO_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["upstreams"] == {ECHO_SERVICE: "NOT_SERVING"}
    finally:
        await health_servicer.set(ECHO_SERVICE, health_pb2.HealthCheckResponse.SERVING)


async def test_metrics_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/test/v1/things/metric-a")
    await client.get("/test/v1/things/metric-b")
    await client.get("/no/such/route")
    text = (await client.get("/metrics")).text
    assert (
        'gateway_http_requests_total{method="GET",route="/test/v1/things/{thing_id}",status="200"}'
        in text
    )
    assert 'route="unmatched",status="404"' in text
    assert "gateway_http_request_seconds_bucket" in text


async def test_replicas_share_one_budget(redis_url: str) -> None:
    # Given two gateway replicas (two limiters, two Redis clients) and one client
    clients = [aioredis.from_url(redis_url) for _ in range(2)]
    try:
        limiters = [RateLimiter(c, {"default": Rule(4, 3600)}) for c in clients]
        key = f"ip:{uuid.uuid4()}"
        # When the client's requests alternate between the replicas
        verdicts = [await limiters[i % 2].hit("default", key) for i in range(6)]
        # Then the budget is counted once across both
        assert [v.allowed for v in verdicts] == [True] * 4 + [False] * 2
    finally:
        for c in clients:
            await c.aclose()


async def test_rate_limiter_fails_open_without_redis() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        verdict = await RateLimiter(client, {"default": Rule(1, 60)}).hit("default", "ip:x")
        assert verdict.allowed
    finally:
        await client.aclose()
