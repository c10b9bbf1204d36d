"""Upstream statuses map to HTTP by grpc-gateway's table; gateway errors share the shape."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from gateway.app import Gateway, build_app
from tests.gateway.conftest import (
    ECHO_SERVICE,
    FAST_PASSWORDS,
    assert_status_body,
    gateway_settings,
    reason,
    violation_fields,
)

pytestmark = pytest.mark.integration

# grpc-gateway runtime/errors.go HTTPStatusFromCode
TABLE = [
    (grpc.StatusCode.CANCELLED, 499),
    (grpc.StatusCode.UNKNOWN, 500),
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.PERMISSION_DENIED, 403),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.OUT_OF_RANGE, 400),
    (grpc.StatusCode.UNIMPLEMENTED, 501),
    (grpc.StatusCode.INTERNAL, 500),
    (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DATA_LOSS, 500),
    (grpc.StatusCode.UNAUTHENTICATED, 401),
]


@pytest.mark.parametrize(("code", "http_status"), TABLE, ids=[c.name for c, _ in TABLE])
async def test_status_table(
    client: httpx.AsyncClient, code: grpc.StatusCode, http_status: int
) -> None:
    number = code.value[0]
    response = await client.post(
        f"/test/v1/fail/{number}", json={"reason": "SOME_REASON", "message": "it broke"}
    )
    body = assert_status_body(response, http_status, number)
    assert body["message"] == "it broke"
    assert body["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SOME_REASON",
            "domain": "shop.example.com",
        }
    ]
    assert ("www-authenticate" in response.headers) == (http_status == 401)


@pytest.mark.parametrize(
    ("code", "error_reason", "http_status"),
    [
        (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED", 422),
        (grpc.StatusCode.INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED", 422),
        (grpc.StatusCode.ABORTED, "IDEMPOTENCY_KEY_IN_USE", 409),
        (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_IN_USE", 409),
    ],
)
async def test_reasons_that_override_the_table(
    client: httpx.AsyncClient, code: grpc.StatusCode, error_reason: str, http_status: int
) -> None:
    response = await client.post(f"/test/v1/fail/{code.value[0]}", json={"reason": error_reason})
    body = assert_status_body(response, http_status, code.value[0])
    assert reason(body) == error_reason


async def test_field_violations_and_retry_info_are_kept(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/v1/fail/8", json={"violations": ["items[0].quantity"], "retryAfter": 2.5}
    )
    body = assert_status_body(response, 429, 8)
    assert violation_fields(body) == ["items[0].quantity"]
    assert response.headers["retry-after"] == "3"


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = assert_status_body(await client.get("/nowhere"), 404, 5)
    assert reason(body) == "ROUTE_NOT_FOUND"


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/v1/things/x")
    body = assert_status_body(response, 405, 12)
    assert reason(body) == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"


async def test_malformed_authorization_is_401_before_the_upstream(
    client: httpx.AsyncClient,
) -> None:
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt", "token"):
        response = await client.get("/test/v1/things/a", headers={"Authorization": value})
        assert_status_body(response, 401, 16)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unreachable_upstream_is_503_and_readyz_says_so(
    database_url: str, redis_url: str, secret: str, echo_server: Any
) -> None:
    settings = gateway_settings(
        database_url, redis_url, secret, {ECHO_SERVICE: "127.0.0.1:1"}, upstream_timeout=2.0
    )
    gw = await Gateway.create(settings, passwords=FAST_PASSWORDS)
    try:
        transport = httpx.ASGITransport(app=build_app(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            body = assert_status_body(await http.get("/test/v1/things/a"), 503, 14)
            assert body["details"] == []
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["upstreams"][ECHO_SERVICE] == "UNAVAILABLE"
    finally:
        await gw.close()
