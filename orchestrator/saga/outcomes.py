"""What a failed downstream call means for the saga: ONE table from gRPC status to outcome."""

from __future__ import annotations

import enum

import grpc

from svckit.rpcerrors import error_info


class Kind(enum.Enum):
    TRANSIENT = "TRANSIENT"  # retry later with the same idempotency key
    PERMANENT = "PERMANENT"  # retrying cannot help: compensate (or skip a best-effort step)


class StepError(Exception):
    """Raised by a saga port when a step's call did not succeed."""

    def __init__(self, kind: Kind, message: str, *, reason: str | None = None,
                 code: str | None = None, breaker_failure: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.code = code
        self.breaker_failure = breaker_failure  # counts against the service's circuit breaker

    @property
    def transient(self) -> bool:
        return self.kind is Kind.TRANSIENT

    def describe(self) -> str:
        parts = [p for p in (self.code, self.reason) if p]
        return f"{'/'.join(parts)}: {self}" if parts else str(self)


class BreakerOpen(StepError):
    """Raised instead of calling a service whose circuit breaker is open."""

    def __init__(self, service: str) -> None:
        super().__init__(Kind.TRANSIENT, f"circuit breaker for {service} is open",
                         reason="BREAKER_OPEN")


# code → (outcome, counts as a failure of the service for its breaker).
# The four transient codes are SPEC §4's; INTERNAL/UNKNOWN are permanent for the step (a bug
# does not fix itself) but still count against the breaker.
_S = grpc.StatusCode
CODE_OUTCOMES: dict[grpc.StatusCode, tuple[Kind, bool]] = {
    _S.UNAVAILABLE: (Kind.TRANSIENT, True),
    _S.DEADLINE_EXCEEDED: (Kind.TRANSIENT, True),
    _S.RESOURCE_EXHAUSTED: (Kind.TRANSIENT, False),
    _S.ABORTED: (Kind.TRANSIENT, False),
    _S.INTERNAL: (Kind.PERMANENT, True),
    _S.UNKNOWN: (Kind.PERMANENT, True),
}
_DEFAULT = (Kind.PERMANENT, False)  # INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...


def from_rpc_error(error: grpc.aio.AioRpcError) -> StepError:
    """The StepError for a failed call, with its ErrorInfo reason when the server sent one."""
    code = error.code()
    kind, counts = CODE_OUTCOMES.get(code, _DEFAULT)
    info = error_info(error)
    return StepError(kind, error.details() or code.name, reason=info.reason if info else None,
                     code=code.name, breaker_failure=counts)
