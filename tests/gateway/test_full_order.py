"""A whole order through HTTP: register, log in, create (202 + Location), watch the NDJSON stream
to CONFIRMED, replay the Idempotency-Key, reuse it with another body (422), and the protections
the order API gets from the gateway (tokens, ownership, bad input writes nothing).

Inventory, payment, notify, the saga worker and the outbox relay run as real processes; the order
API runs in-process on port 0 and the gateway in front of it and of inventory."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from gateway.app import Gateway, build_app
from orchestrator.api import build_service
from orchestrator.catalog import Catalog
from orchestrator.handlers import Orders
from orchestrator.watch import StatusFeed
from svckit import auth
from svckit.clients import ServiceToken, channel
from svckit.db import open_pool
from tests.gateway.conftest import (
    FAST_PASSWORDS,
    assert_status_body,
    gateway_settings,
    reason,
    violation_fields,
)
from tests.gateway.test_auth import bad_tokens
from tests.gateway.test_schemathesis import listening, needs_schemathesis, run_schemathesis
from tests.saga.stack import Proc, Stack
from tests.support import serving

pytestmark = pytest.mark.e2e

PASSWORD = "order through http 1"


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def shop(
    database_url: str, redis_url: str, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    logs: Path = tmp_path_factory.mktemp("gateway-e2e")
    stack = Stack(database_url, redis_url, secret, logs)
    relay: Proc | None = None
    pool: AsyncConnectionPool = await open_pool(database_url, name="gw-e2e", max_size=5)
    try:
        stack.start_services()
        stack.start_worker()
        relay = Proc(
            "relay",
            ["-m", "orchestrator", "relay"],
            stack._env({"RELAY_METRICS_PORT": "0", "RELAY_POLL_INTERVAL": "200ms"}),
            logs,
        )
        inventory_target = f"127.0.0.1:{stack.ports['inventory']}"
        inventory_channel = channel(inventory_target)
        catalog = Catalog(inventory_channel, ServiceToken(secret, "orders-api"), ttl=2.0)
        feed = StatusFeed(pool, database_url, poll_interval=0.2)
        orders = Orders(pool, catalog, saga_deadline=600.0)
        async with serving(build_service(pool, orders, feed, secret)) as (_, orders_port):
            settings = gateway_settings(
                database_url,
                redis_url,
                secret,
                {
                    "shop.orders.v1.OrderService": f"127.0.0.1:{orders_port}",
                    "shop.inventory.v1.InventoryService": inventory_target,
                },
            )
            gw = await Gateway.create(settings, passwords=FAST_PASSWORDS)
            transport = httpx.ASGITransport(app=build_app(gw))
            async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
                http.stack = stack  # type: ignore[attr-defined]
                http.gateway = gw  # type: ignore[attr-defined]
                yield http
            await gw.close()
        await feed.stop()
        await inventory_channel.close()
    finally:
        if relay is not None:
            relay.stop()
        await stack.close_channel()
        stack.stop()
        await pool.close()


async def customer(http: httpx.AsyncClient) -> dict[str, str]:
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "locale": "es"}
    )
    assert registered.status_code == 201, registered.text
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


async def product(http: httpx.AsyncClient, stock: int = 10) -> str:
    stack: Stack = http.stack  # type: ignore[attr-defined]
    return await stack.new_product(stock, 1250)


def count_orders(database_url: str, customer_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM orders.orders WHERE customer_id = %s", (customer_id,)
        ).fetchone()
    return int(row[0]) if row else 0


async def test_full_order_through_http(shop: httpx.AsyncClient, secret: str) -> None:
    # Given a registered, logged-in customer and a product in stock
    me = await customer(shop)
    product_id = await product(shop)
    # When she places an order with an Idempotency-Key
    body = {"items": [{"productId": product_id, "quantity": 2}]}
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    created = await shop.post("/api/v1/orders", json=body, headers={**me, **key})
    # Then it is accepted: 202, Location, status PENDING, priced from the catalog
    assert created.status_code == 202, created.text
    order = created.json()["order"]
    assert created.headers["location"] == f"/api/v1/orders/{order['orderId']}"
    assert order["status"] == "ORDER_STATUS_PENDING"
    assert order["total"]["amountMinor"] == "2500"
    assert order["locale"] == "es"
    # And watching it streams NDJSON until CONFIRMED
    watched = await shop.get(
        f"/api/v1/orders/{order['orderId']}:watch", headers={**me, "Grpc-Timeout": "20S"}
    )
    assert watched.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in watched.text.splitlines()]
    assert all("result" in line for line in lines), lines
    assert lines[-1]["result"]["status"] == "ORDER_STATUS_CONFIRMED"
    # When the same request is replayed with the same key: the same order, marked as a replay
    replay = await shop.post("/api/v1/orders", json=body, headers={**me, **key})
    assert replay.status_code == 202
    assert replay.json()["order"]["orderId"] == order["orderId"]
    assert replay.headers["idempotent-replayed"] == "true"
    # When the key is reused with a different body: 422
    other = {"items": [{"productId": product_id, "quantity": 3}]}
    reused = await shop.post("/api/v1/orders", json=other, headers={**me, **key})
    assert reason(assert_status_body(reused, 422, reused.json()["code"])) == (
        "IDEMPOTENCY_KEY_REUSED"
    )
    # And reads work through the other routes
    status = await shop.get(f"/api/v1/orders/{order['orderId']}/status", headers=me)
    assert status.json()["status"] == "ORDER_STATUS_CONFIRMED"
    listed = await shop.get("/api/v1/orders", params={"pageSize": 5}, headers=me)
    assert [o["orderId"] for o in listed.json()["orders"]] == [order["orderId"]]


async def test_another_customers_order_is_404(shop: httpx.AsyncClient) -> None:
    alice, bob = await customer(shop), await customer(shop)
    product_id = await product(shop)
    created = await shop.post(
        "/api/v1/orders", json={"items": [{"productId": product_id, "quantity": 1}]}, headers=alice
    )
    order_id = created.json()["order"]["orderId"]
    for path in (f"/api/v1/orders/{order_id}", f"/api/v1/orders/{order_id}/status"):
        assert_status_body(await shop.get(path, headers=bob), 404, 5)


async def test_tokens_table_on_the_order_api(shop: httpx.AsyncClient, secret: str) -> None:
    login = await shop.post(
        "/api/v1/auth/register",
        json={"email": f"t-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
    )
    pair = login.json()
    for name, value in bad_tokens(secret, pair["accessToken"], pair["refreshToken"]).items():
        headers = {"Authorization": value} if value is not None else {}
        response = await shop.get("/api/v1/orders", headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert_status_body(response, 401, 16)
        assert response.headers["www-authenticate"].startswith("Bearer"), name


BAD_ORDERS: list[tuple[str, Any, str]] = [
    ("quantity as string", {"items": [{"productId": "P", "quantity": "2"}]}, "items[0].quantity"),
    ("quantity as bool", {"items": [{"productId": "P", "quantity": True}]}, "items[0].quantity"),
    ("quantity as fraction", {"items": [{"productId": "P", "quantity": 2.5}]}, "items[0].quantity"),
    ("quantity 2^63", {"items": [{"productId": "P", "quantity": 2**63}]}, "items[0].quantity"),
    ("quantity zero", {"items": [{"productId": "P", "quantity": 0}]}, "items[0].quantity"),
    ("quantity too many", {"items": [{"productId": "P", "quantity": 1001}]}, "items[0].quantity"),
    ("empty items", {"items": []}, "items"),
    ("unknown field", {"items": [{"productId": "P", "quantity": 1}], "price": 1}, "price"),
    (
        "SQL-shaped id",
        {"items": [{"productId": "'; DROP TABLE orders.orders; --", "quantity": 1}]},
        "items[0].product_id",
    ),
    ("NUL in id", {"items": [{"productId": "a\u0000b", "quantity": 1}]}, "items[0].product_id"),
    (
        "RTL in locale",
        {"items": [{"productId": "P", "quantity": 1}], "locale": "e\u202en"},
        "locale",
    ),
    (
        "unknown product",
        {"items": [{"productId": str(uuid.UUID(int=1)), "quantity": 1}]},
        "items[0].product_id",
    ),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in BAD_ORDERS], ids=[c[0] for c in BAD_ORDERS]
)
async def test_bad_orders_are_4xx_naming_the_field_and_write_nothing(
    shop: httpx.AsyncClient, database_url: str, secret: str, body: Any, field: str
) -> None:
    me = await customer(shop)
    product_id = await product(shop)
    raw = json.dumps(body).replace('"P"', json.dumps(product_id))
    response = await shop.post(
        "/api/v1/orders", content=raw, headers={**me, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    found = violation_fields(response.json())
    assert any(f == field or f.replace("productId", "product_id") == field for f in found), found
    me_info = (await shop.get("/api/v1/auth/me", headers=me)).json()["user"]
    assert count_orders(database_url, me_info["userId"]) == 0


async def test_huge_bodies_are_refused_before_the_order_api(
    shop: httpx.AsyncClient, database_url: str
) -> None:
    me = await customer(shop)
    items = [{"productId": str(uuid.uuid4()), "quantity": 1}] * 100_000
    response = await shop.post("/api/v1/orders", json={"items": items}, headers=me)
    assert_status_body(response, 413, 3)
    wrong_type = await shop.post(
        "/api/v1/orders", content=b"items=1", headers={**me, "Content-Type": "text/plain"}
    )
    assert_status_body(wrong_type, 415, 3)
    me_info = (await shop.get("/api/v1/auth/me", headers=me)).json()["user"]
    assert count_orders(database_url, me_info["userId"]) == 0


@needs_schemathesis
async def test_schemathesis_against_the_order_and_inventory_apis(
    shop: httpx.AsyncClient, secret: str, tmp_path: Path
) -> None:
    # As a customer (no catalog writes in the shared database): never a 5xx, always as documented.
    token = auth.issue_token(
        secret, str(uuid.uuid4()), "customer", ttl_seconds=600, email="fuzz@example.com"
    )
    async with listening(shop.gateway) as base_url:  # type: ignore[attr-defined]
        await run_schemathesis(
            base_url,
            tmp_path,
            "--header",
            f"Authorization: Bearer {token}",
            "--exclude-path-regex",
            r":watch|/api/v1/auth/",
            seconds=8,
        )
