"""Strict request bodies: content type, size limit before parsing, RFC 8259 JSON only."""

from __future__ import annotations

import json
import math
from typing import Any

import grpc
from starlette.requests import Request

from gateway.errors import GatewayError, bad_request


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request body is larger than {limit} bytes",
        reason="BODY_TOO_LARGE",
        http_status=413,
    )


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; over `limit` is refused from Content-Length or while counting the stream."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError:
            raise bad_request("", "Content-Length is not a number", "BAD_CONTENT_LENGTH") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(raw: bytes) -> Any:
    """RFC 8259 JSON: no NaN/Infinity, no 1e309, no duplicate keys, UTF-8 only."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("", "request body is not valid UTF-8", "MALFORMED_JSON") from None
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise bad_request(
            "",
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            "MALFORMED_JSON",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise bad_request("", f"malformed JSON: {exc}", "MALFORMED_JSON") from None


async def read_json(request: Request, limit: int, *, required: bool) -> Any:
    """The parsed body, or None when there is none and it is optional."""
    raw = await read_body(request, limit)
    if not raw.strip():
        if required:
            raise bad_request("", "a JSON request body is required", "MISSING_BODY")
        return None
    content_type = request.headers.get("content-type", "")
    if not is_json_type(content_type):
        raise GatewayError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"content type {content_type or '(none)'!r} is not supported; send application/json",
            reason="UNSUPPORTED_MEDIA_TYPE",
            http_status=415,
        )
    return parse_json(raw)
