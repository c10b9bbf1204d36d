"""gRPC failures carrying google.rpc.Status details (ErrorInfo, BadRequest, RetryInfo)."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "shop.example.com"


class RpcFailure(Exception):
    """Raised by a servicer to end the call with a status and google.rpc details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: list[tuple[str, str]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])
        self.retry_after = retry_after

    def to_status(self) -> grpc.Status:
        details: list[any_pb2.Any] = []
        if self.reason:
            info = error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
            )
            details.append(_pack(info))
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in self.violations
                ]
            )
            details.append(_pack(bad))
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(int(self.retry_after * 1000))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=details)
        return rpc_status.to_status(status)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


class Violations:
    """Collects field violations of a request and raises one INVALID_ARGUMENT for all of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, message: str = "invalid request") -> None:
        if self.items:
            fields = ", ".join(f for f, _ in self.items)
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{message}: {fields}",
                reason="INVALID_ARGUMENT",
                violations=self.items,
            )


def invalid(field: str, description: str) -> RpcFailure:
    """A single-field INVALID_ARGUMENT failure."""
    return RpcFailure(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid {field}: {description}",
        reason="INVALID_ARGUMENT",
        violations=[(field, description)],
    )


def details_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status carried by a client-side error, if any."""
    try:
        return rpc_status.from_call(error)
    except ValueError:
        return None


def error_info(error: grpc.aio.AioRpcError | grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo detail of a client-side error, if any."""
    status = details_of(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


UNAVAILABLE_CODE = code_pb2.UNAVAILABLE
