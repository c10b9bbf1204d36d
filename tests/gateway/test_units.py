"""Path templates, header rules and settings parsing: no I/O."""

from __future__ import annotations

import pytest

from gateway import headers
from gateway.config import Settings, parse_upstreams
from gateway.errors import GatewayError
from gateway.ratelimit import Rule
from gateway.templates import TemplateError, parse
from svckit.config import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("/v1/orders/{order_id}", "/v1/orders/abc", {"order_id": "abc"}),
        ("/v1/orders/{order_id}", "/v1/orders/a%2Fb", {"order_id": "a/b"}),
        ("/v1/orders/{order_id}:cancel", "/v1/orders/abc:cancel", {"order_id": "abc"}),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books/2", {"name": "shelves/1/books/2"}),
        ("/v1/{name=files/**}", "/v1/files/a/b/c", {"name": "files/a/b/c"}),
        ("/v1/{a.b}/x/*", "/v1/q/x/anything", {"a.b": "q"}),
    ],
)
def test_templates_match(template: str, path: str, values: dict[str, str]) -> None:
    assert parse(template).match(path) == values


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/v1/orders/{order_id}", "/v1/orders/a/b"),
        ("/v1/orders/{order_id}:cancel", "/v1/orders/abc"),
        ("/v1/orders/{order_id}:cancel", "/v1/orders/abc:watch"),
        ("/v1/{name=shelves/*}", "/v1/shelves/"),
    ],
)
def test_templates_do_not_match(template: str, path: str) -> None:
    assert parse(template).match(path) is None


@pytest.mark.parametrize("bad", ["v1/x", "/v1/{}", "/v1/{a", "/v1//x", "/v1/{9x}"])
def test_malformed_templates_fail_loudly(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse(bad)


def test_openapi_spelling() -> None:
    assert parse("/v1/{thing.id}/{name=a/*}:do").openapi_path() == "/v1/{thing_id}/{name}:do"


@pytest.mark.parametrize(
    ("value", "seconds"), [("2S", 2.0), ("1500m", 1.5), ("1M", 60.0), ("100u", 0.0001)]
)
def test_grpc_timeout(value: str, seconds: float) -> None:
    assert headers.timeout_of({"grpc-timeout": value}, 30.0) == pytest.approx(seconds)


def test_grpc_timeout_absent_or_bad() -> None:
    assert headers.timeout_of({}, 30.0) == 30.0
    with pytest.raises(GatewayError):
        headers.timeout_of({"grpc-timeout": "2 seconds"}, 30.0)


def test_response_shape_only_takes_2xx_codes() -> None:
    assert headers.response_shape([("x-http-code", "202"), ("location", "/x")]) == (
        202,
        {"Location": "/x"},
    )
    assert headers.response_shape([("x-http-code", "500")]) == (None, {})


def test_rate_rules() -> None:
    assert Rule.parse("600/1m") == Rule(600, 60)
    assert Rule.parse("10/m") == Rule(10, 60)
    assert Rule.parse("5/30s") == Rule(5, 30)
    assert Rule.parse("0").limit == 0
    with pytest.raises(ValueError, match="rate limit"):
        Rule.parse("lots")


def test_settings_defaults_and_errors() -> None:
    env = {"JWT_SECRET": "x" * 40, "DATABASE_URL": "postgresql://u@h/db"}
    settings = Settings.from_env(env)
    assert settings.port == 8080 and settings.max_body_bytes == 1024 * 1024
    assert settings.upstreams["shop.orders.v1.OrderService"] == "localhost:50050"
    assert settings.access_ttl == 900 and settings.refresh_ttl == 7 * 86400
    with pytest.raises(ConfigError, match="GATEWAY_UPSTREAMS"):
        parse_upstreams(["shop.orders.v1.OrderService"])
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env({**env, "JWT_SECRET": "short"})
    with pytest.raises(ConfigError, match="GATEWAY_RATE_LIMIT"):
        Settings.from_env({**env, "GATEWAY_RATE_LIMIT": "fast"})
