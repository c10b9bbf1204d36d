"""Bad input is a 4xx naming the offending field, never a 5xx, and never reaches the upstream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.gateway.conftest import assert_status_body, reason, sent, violation_fields

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}

# (case, raw body, field named in the answer (None: the body as a whole), reason)
BODY_CASES = [
    ("malformed", b'{"name": "x"', None, "MALFORMED_JSON"),
    ("not an object", b"[1, 2]", "body", "INVALID_ARGUMENT"),
    ("trailing garbage", b'{"name": "x"} x', None, "MALFORMED_JSON"),
    ("unknown field", b'{"name": "x", "colour": "red"}', "colour", "UNKNOWN_FIELD"),
    (
        "unknown nested field",
        b'{"items": [{"productId": "p", "qty": 1}]}',
        "items[0].qty",
        "UNKNOWN_FIELD",
    ),
    ("quantity as string", b'{"quantity": "2"}', "quantity", "INVALID_ARGUMENT"),
    ("quantity as bool", b'{"quantity": true}', "quantity", "INVALID_ARGUMENT"),
    ("quantity as fraction", b'{"quantity": 2.5}', "quantity", "INVALID_ARGUMENT"),
    (
        "nested quantity as string",
        b'{"items": [{"quantity": "2"}]}',
        "items[0].quantity",
        "INVALID_ARGUMENT",
    ),
    ("NaN", b'{"ratio": NaN}', None, "MALFORMED_JSON"),
    ("Infinity", b'{"ratio": -Infinity}', None, "MALFORMED_JSON"),
    ("1e309", b'{"ratio": 1e309}', None, "MALFORMED_JSON"),
    ("2^63 in int64", b'{"big": 9223372036854775808}', "big", "INVALID_ARGUMENT"),
    ("2^63 as int64 string", b'{"big": "9223372036854775808"}', "big", "INVALID_ARGUMENT"),
    ("2^31 in int32", b'{"quantity": 2147483648}', "quantity", "INVALID_ARGUMENT"),
    ("negative uint32", b'{"small": -1}', "small", "INVALID_ARGUMENT"),
    ("string as number", b'{"name": 5}', "name", "INVALID_ARGUMENT"),
    ("repeated as scalar", b'{"tags": "a"}', "tags", "INVALID_ARGUMENT"),
    ("unknown enum", b'{"kind": "KIND_HUGE"}', "kind", "INVALID_ARGUMENT"),
    ("bad timestamp", b'{"when": "yesterday"}', "when", "INVALID_ARGUMENT"),
    ("NUL character", b'{"name": "a\\u0000b"}', "name", "INVALID_ARGUMENT"),
    ("RTL override", '{"name": "abc\u202edef"}'.encode(), "name", "INVALID_ARGUMENT"),
    ("duplicate key", b'{"name": "a", "name": "b"}', None, "MALFORMED_JSON"),
    ("both spellings", b'{"thing_id": "a", "thingId": "b"}', "thing_id", "INVALID_ARGUMENT"),
    ("not UTF-8", b'{"name": "\xff"}', None, "MALFORMED_JSON"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, None, "MALFORMED_JSON"),
]


@pytest.mark.parametrize(
    ("raw", "field", "error_reason"),
    [case[1:] for case in BODY_CASES],
    ids=[case[0] for case in BODY_CASES],
)
async def test_bad_body_is_400_naming_the_field(
    client: httpx.AsyncClient, raw: bytes, field: str | None, error_reason: str
) -> None:
    response = await client.post("/test/v1/things", content=raw, headers=JSON)
    body = assert_status_body(response, 400, 3)
    assert reason(body) == error_reason
    if field is not None:
        assert violation_fields(body) == [field]
        assert field in body["message"]


async def test_empty_and_huge_arrays_are_not_the_gateways_business(
    client: httpx.AsyncClient,
) -> None:
    # The gateway checks types; counts are the service's rules (it answers with its own 400).
    empty = await client.post("/test/v1/things", json={"items": []})
    assert empty.status_code == 200
    many = await client.post("/test/v1/things", json={"items": [{}] * 100_000})
    assert many.status_code == 200
    assert len(many.json()["thing"]["items"]) == 100_000


async def test_sql_shaped_strings_arrive_verbatim(client: httpx.AsyncClient) -> None:
    name = "'; DROP TABLE identity.users; --"
    response = await client.post("/test/v1/things", json={"name": name})
    assert response.status_code == 200
    assert sent(response)["name"] == name


async def test_body_over_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    raw = json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode()
    response = await client.post("/test/v1/things", content=raw, headers=JSON)
    body = assert_status_body(response, 413, 3)
    assert reason(body) == "BODY_TOO_LARGE"


async def test_body_over_limit_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"name": "'
        for _ in range(64):  # 4 MiB offered in 64 KiB chunks
            chunks_sent += 1
            yield b"x" * 65536
        yield b'"}'

    response = await client.post("/test/v1/things", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_status_body(response, 413, 3)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/test/v1/things", content=b'{"name": "x"}', headers=headers)
    body = assert_status_body(response, 415, 3)
    assert reason(body) == "UNSUPPORTED_MEDIA_TYPE"


async def test_json_with_charset_and_vendor_types_are_json(client: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await client.post(
            "/test/v1/things", content=b'{"name": "x"}', headers={"Content-Type": content_type}
        )
        assert response.status_code == 200


QUERY_CASES = [
    ("unknown parameter", [("colour", "red")], "colour"),
    ("int32 not a number", [("pageSize", "ten")], "pageSize"),
    ("int32 out of range", [("pageSize", "99999999999")], "pageSize"),
    ("bool not a bool", [("flag", "maybe")], "flag"),
    ("enum unknown", [("kind", "KIND_HUGE")], "kind"),
    ("scalar given twice", [("pageSize", "1"), ("pageSize", "2")], "pageSize"),
    ("path-bound field", [("thingId", "other")], "thingId"),
    ("message field", [("inner", "x")], "inner"),
    ("NUL in string", [("inner.note", "a\x00b")], "inner.note"),
]


@pytest.mark.parametrize(
    ("params", "field"), [c[1:] for c in QUERY_CASES], ids=[c[0] for c in QUERY_CASES]
)
async def test_bad_query_is_400_naming_the_parameter(
    client: httpx.AsyncClient, params: list[tuple[str, str]], field: str
) -> None:
    response = await client.get("/test/v1/things/a", params=params)
    body = assert_status_body(response, 400, 3)
    assert violation_fields(body) == [field]


async def test_query_on_a_body_star_route_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/v1/things", params={"name": "x"}, json={})
    body = assert_status_body(response, 400, 3)
    assert violation_fields(body) == ["name"]


async def test_bad_grpc_timeout_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/v1/things/a", headers={"Grpc-Timeout": "soon"})
    body = assert_status_body(response, 400, 3)
    assert violation_fields(body) == ["Grpc-Timeout"]


async def test_bad_path_value_for_an_integer_field_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/v1/fail/abc", json={})
    body = assert_status_body(response, 400, 3)
    assert violation_fields(body) == ["code"]
