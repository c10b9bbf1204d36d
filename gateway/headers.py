"""HTTP headers ↔ gRPC metadata: what passes through, request ids, Grpc-Timeout, response codes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

from gateway.errors import bad_request, unauthenticated

PASS_THROUGH = ("authorization", "idempotency-key", "accept-language")
METADATA_PREFIX = "grpc-metadata-"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_TIMEOUT = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# Response metadata the upstream sets to shape the HTTP answer (the order API's convention).
RESPONSE_HEADERS = {
    "location": "Location",
    "idempotent-replayed": "Idempotent-Replayed",
    "retry-after": "Retry-After",
}
HTTP_CODE_KEY = "x-http-code"


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    given = headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def check_authorization(headers: Mapping[str, str]) -> None:
    """A present Authorization header must be `Bearer <JWT>`; the services verify the rest."""
    value = headers.get("authorization")
    if value is None:
        return
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("authorization must be 'Bearer <token>'")
    if not _TOKEN.match(token.strip()):
        raise unauthenticated("bearer token is not a JWT")


def timeout_of(headers: Mapping[str, str], default: float | None) -> float | None:
    value = headers.get("grpc-timeout")
    if value is None:
        return default
    match = _TIMEOUT.match(value.strip())
    if not match:
        raise bad_request("Grpc-Timeout", "must be 1-8 digits and a unit (H, M, S, m, u, n)")
    seconds = int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]
    return seconds if seconds > 0 else default


def outgoing_metadata(
    headers: Mapping[str, str], rid: str, client_ip: str
) -> list[tuple[str, str]]:
    pairs = [(name, headers[name]) for name in PASS_THROUGH if name in headers]
    for name, value in headers.items():
        if name.startswith(METADATA_PREFIX) and len(name) > len(METADATA_PREFIX):
            key = name[len(METADATA_PREFIX) :]
            if not key.startswith("grpc-") and key not in PASS_THROUGH:
                pairs.append((key, value))
    pairs.append(("x-request-id", rid))
    pairs.append(("x-forwarded-for", client_ip))
    return pairs


def response_shape(
    metadata: Iterable[tuple[str, str | bytes]],
) -> tuple[int | None, dict[str, str]]:
    """HTTP status override and headers from the upstream's response metadata."""
    code: int | None = None
    headers: dict[str, str] = {}
    for key, value in metadata:
        if isinstance(value, bytes):
            continue
        if key == HTTP_CODE_KEY and value.isdigit() and 200 <= int(value) < 300:
            code = int(value)
        elif key in RESPONSE_HEADERS:
            headers[RESPONSE_HEADERS[key]] = value
    return code, headers
