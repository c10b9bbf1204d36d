"""gRPC status → HTTP, and the google.rpc.Status JSON body every error answer carries."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from starlette.responses import Response

from svckit.rpcerrors import RpcFailure

log = logging.getLogger(__name__)

# grpc-gateway runtime/errors.go HTTPStatusFromCode, entry for entry.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# ErrorInfo reasons for which HTTP has a more precise word than the code's row in the table.
REASON_STATUS: dict[str, int] = {
    "IDEMPOTENCY_KEY_REUSED": 422,
    "IDEMPOTENCY_KEY_IN_USE": 409,
}

_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class GatewayError(RpcFailure):
    """Raised by the gateway itself for a request it refuses; `http_status` overrides the table."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(code, message, **kwargs)  # type: ignore[arg-type]
        self.http_status = http_status
        self.headers = dict(headers or {})


def bad_request(field: str, description: str, reason: str = "INVALID_ARGUMENT") -> GatewayError:
    """A 400 naming the offending field."""
    return GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid {field}: {description}" if field else description,
        reason=reason,
        violations=[(field, description)] if field else None,
    )


def unauthenticated(message: str, reason: str = "UNAUTHENTICATED") -> GatewayError:
    return GatewayError(grpc.StatusCode.UNAUTHENTICATED, message, reason=reason)


def status_of_failure(failure: RpcFailure) -> status_pb2.Status:
    grpc_status = failure.to_status()
    for key, value in grpc_status.trailing_metadata:
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=failure.code.value[0], message=failure.message)


def status_of_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status of an upstream failure (details kept when the server sent them)."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    if status is None:
        status = status_pb2.Status(code=error.code().value[0], message=error.details() or "")
    return status


def status_to_dict(status: status_pb2.Status) -> dict[str, object]:
    """{code, message, details:[{"@type": ...}]}: details of unknown types are dropped."""
    details: list[object] = []
    for detail in status.details:
        try:
            details.append(json_format.MessageToDict(detail))
        except (TypeError, KeyError, json_format.Error):
            log.debug("dropping error detail of unknown type", extra={"type": detail.type_url})
    return {"code": status.code, "message": status.message, "details": details}


def _detail(status: status_pb2.Status, kind: type) -> object | None:
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[attr-defined]
            found: object = kind()
            detail.Unpack(found)
            return found
    return None


def http_status_of(status: status_pb2.Status) -> int:
    info = _detail(status, error_details_pb2.ErrorInfo)
    if isinstance(info, error_details_pb2.ErrorInfo) and info.reason in REASON_STATUS:
        return REASON_STATUS[info.reason]
    code = _CODE_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    return HTTP_STATUS.get(code, 500)


def error_headers(status: status_pb2.Status) -> dict[str, str]:
    """WWW-Authenticate on 401, Retry-After from RetryInfo."""
    headers: dict[str, str] = {}
    if status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]:
        headers["WWW-Authenticate"] = 'Bearer realm="shop"'
    retry = _detail(status, error_details_pb2.RetryInfo)
    if isinstance(retry, error_details_pb2.RetryInfo) and retry.HasField("retry_delay"):
        seconds = retry.retry_delay.seconds + (1 if retry.retry_delay.nanos else 0)
        headers["Retry-After"] = str(max(1, seconds))
    return headers


def error_body(status: status_pb2.Status) -> bytes:
    return json.dumps(status_to_dict(status), ensure_ascii=False).encode()


def status_response(
    status: status_pb2.Status, *, http_status: int | None = None, headers: Mapping[str, str] = {}
) -> Response:
    return Response(
        error_body(status),
        status_code=http_status or http_status_of(status),
        headers={**error_headers(status), **headers},
        media_type="application/json",
    )


def failure_response(failure: RpcFailure) -> Response:
    status = status_of_failure(failure)
    if isinstance(failure, GatewayError):
        return status_response(status, http_status=failure.http_status, headers=failure.headers)
    return status_response(status)
