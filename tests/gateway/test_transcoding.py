"""Routes come from the annotations alone; path, body and query map onto the request message."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.app import Gateway
from tests.gateway.conftest import sent

pytestmark = pytest.mark.integration


def test_every_annotated_rpc_gets_its_routes_and_no_other(gateway: Gateway) -> None:
    # Given only the test service's descriptors (no gateway code mentions it)
    bound = {r.describe(): r.method.name for r in gateway.routes}
    # Then each google.api.http rule, additional bindings included, is a route
    assert bound == {
        "GET /test/v1/things/{thing_id}": "GetThing",
        "POST /test/v1/things": "CreateThing",
        "PATCH /test/v1/things/{thing.thing_id}": "UpdateThing",
        "PUT /test/v1/things/{thing.thing_id}": "UpdateThing",
        "DELETE /test/v1/things/{thing_id}": "DeleteThing",
        "POST /test/v1/things/{thing_id}:do": "DoThing",
        "GET /test/v1/{name=shelves/*/books/*}": "GetBook",
        "POST /test/v1/fail/{code}": "Fail",
        "POST /test/v1/accepted": "Accept",
        "GET /test/v1/things/{thing_id}:watch": "Watch",
    }


async def test_path_variable_and_query_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/test/v1/things/abc%20d",
        params=[
            ("pageSize", "5"),
            ("tags", "x"),
            ("tags", "y"),
            ("inner.note", "hi"),
            ("inner.level", "3"),
            ("kind", "KIND_LARGE"),
            ("flag", "true"),
            ("big", "9007199254740993"),
        ],
    )
    assert response.status_code == 200, response.text
    assert sent(response) == {
        "thing_id": "abc d",
        "page_size": 5,
        "tags": ["x", "y"],
        "inner": {"note": "hi", "level": 3},
        "kind": "KIND_LARGE",
        "flag": True,
        "big": "9007199254740993",
    }
    assert response.json()["method"] == "GetThing"


async def test_body_star_accepts_both_spellings_and_answers_lower_camel(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "thing_id": "t1",
        "quantity": 2,
        "big": "12",
        "tags": ["a"],
        "kind": "KIND_SMALL",
        "inner": {"note": "n"},
        "when": "2026-01-02T03:04:05Z",
        "labels": {"k": "v"},
        "items": [{"productId": "p1", "quantity": 1}],
        "ratio": 0.5,
        "flag": True,
    }
    response = await client.post("/test/v1/things", json=body)
    assert response.status_code == 200, response.text
    thing = response.json()["thing"]
    assert thing["thingId"] == "t1"
    assert thing["items"] == [{"productId": "p1", "quantity": 1}]
    assert thing["big"] == "12"  # int64 travels as a string
    assert thing["when"] == "2026-01-02T03:04:05Z"
    # unpopulated fields are present (grpc-gateway's default)
    assert thing["name"] == "" and thing["small"] == 0


async def test_field_body_with_nested_path_variable(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/test/v1/things/t9", json={"name": "renamed", "thingId": "ignored"}, params={"note": "q"}
    )
    assert response.status_code == 200, response.text
    assert sent(response) == {"thing": {"thing_id": "t9", "name": "renamed"}, "note": "q"}
    put = await client.put("/test/v1/things/t9", json={"name": "again"})
    assert sent(put) == {"thing": {"thing_id": "t9", "name": "again"}}


async def test_custom_verb_is_its_own_route(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/v1/things/t1:do", json={"how": "fast"})
    assert response.json()["method"] == "DoThing"
    assert sent(response) == {"thing_id": "t1", "how": "fast"}
    # Without the verb the same path is GetThing; an empty body is allowed for body routes
    assert (await client.get("/test/v1/things/t1")).json()["method"] == "GetThing"
    assert (await client.post("/test/v1/things/t1:do")).status_code == 200


async def test_multi_segment_variable(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/shelves/s1/books/b%2F2")
    assert sent(response) == {"name": "shelves/s1/books/b/2"}
    missing = await client.get("/test/v1/shelves/s1")
    assert missing.status_code == 404


async def test_delete_route(client: httpx.AsyncClient) -> None:
    response = await client.delete("/test/v1/things/gone")
    assert response.json()["method"] == "DeleteThing"


async def test_headers_pass_through_and_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/test/v1/things/h",
        headers={
            "Idempotency-Key": "k-1",
            "X-Request-ID": "req-123",
            "Grpc-Metadata-X-Custom": "c",
            "Authorization": "Bearer aaa.bbb.ccc",
            "Grpc-Timeout": "2S",
        },
    )
    metadata = response.json()["metadata"]
    assert metadata == {
        "idempotency-key": "k-1",
        "x-request-id": "req-123",
        "x-custom": "c",
        "authorization": "Bearer aaa.bbb.ccc",
    }
    assert response.headers["x-request-id"] == "req-123"
    assert 1.0 < response.json()["deadlineSeconds"] <= 2.1


async def test_request_id_is_generated_when_absent_or_insane(client: httpx.AsyncClient) -> None:
    first = await client.get("/test/v1/things/a")
    second = await client.get("/test/v1/things/a", headers={"X-Request-ID": "bad id\twith spaces"})
    for response in (first, second):
        rid = response.headers["x-request-id"]
        assert len(rid) == 32 and response.json()["metadata"]["x-request-id"] == rid


async def test_default_deadline_applies(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/things/a")
    assert 3.0 < response.json()["deadlineSeconds"] <= 5.1


async def test_response_metadata_shapes_status_and_headers(client: httpx.AsyncClient) -> None:
    # Given an RPC that answers with x-http-code 202, location and idempotent-replayed metadata
    response = await client.post("/test/v1/accepted", json={"thingId": "o1", "name": "n"})
    # Then the HTTP answer is 202 with those headers, and response_body selects one field
    assert response.status_code == 202
    assert response.headers["location"] == "/test/v1/things/o1"
    assert response.headers["idempotent-replayed"] == "true"
    assert response.json()["thingId"] == "o1"


async def test_server_stream_as_ndjson(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/things/s1:watch", params={"count": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["result"]["seq"] for line in lines] == [0, 1, 2]


async def test_server_stream_error_midway_is_the_last_line(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/things/s1:watch", params={"count": 2, "failCode": 14})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line.get("result", {}).get("seq") for line in lines[:2]] == [0, 1]
    error = lines[2]["error"]
    assert error["code"] == 14 and error["details"][0]["reason"] == "STREAM_BROKE"


async def test_server_stream_failing_at_once_is_a_plain_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/things/s1:watch", params={"count": 0, "failCode": 5})
    assert response.status_code == 404
    assert response.json()["code"] == 5


async def test_server_stream_as_sse(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/test/v1/things/s1:watch",
        params={"count": 2, "failCode": 14},
        headers={"Accept": "text/event-stream"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    assert [e.split("\n")[0] for e in events] == [
        "event: message",
        "event: message",
        "event: error",
    ]
    assert json.loads(events[1].split("data: ", 1)[1])["seq"] == 1
    assert json.loads(events[2].split("data: ", 1)[1])["code"] == 14


async def test_cors_preflight_and_exposed_headers(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/test/v1/things",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    simple = await client.get("/test/v1/things/a", headers={"Origin": "https://shop.example"})
    assert "Location" in simple.headers["access-control-expose-headers"]
    other = await client.get("/test/v1/things/a", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
