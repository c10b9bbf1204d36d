"""The saga definition and the gRPC error table: pure data, no I/O."""

from __future__ import annotations

import grpc
import pytest

from orchestrator.saga import definition as d
from orchestrator.saga.outcomes import Kind, from_rpc_error
from svckit.rpcerrors import RpcFailure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("stopped_at", "plan"), [
    ("RESERVE_STOCK", ["SEND_CANCELLATION", "MARK_CANCELLED"]),
    ("CHARGE_PAYMENT", ["RELEASE_STOCK", "SEND_CANCELLATION", "MARK_CANCELLED"]),
    ("COMMIT_STOCK", ["REFUND_PAYMENT", "RELEASE_STOCK", "SEND_CANCELLATION", "MARK_CANCELLED"]),
    ("SEND_CONFIRMATION", ["RESTOCK", "REFUND_PAYMENT", "RELEASE_STOCK", "SEND_CANCELLATION",
                           "MARK_CANCELLED"]),
    (d.END, ["RESTOCK", "REFUND_PAYMENT", "RELEASE_STOCK", "SEND_CANCELLATION",
             "MARK_CANCELLED"]),
])
def test_compensations_undo_attempted_steps_in_reverse(stopped_at: str, plan: list[str]) -> None:
    assert d.compensation_plan(stopped_at) == plan


def test_every_step_and_compensation_is_defined_once() -> None:
    names = [s.name for s in d.FORWARD] + list(d.COMPENSATIONS)
    assert len(names) == len(set(names))
    for step in d.FORWARD:
        assert step.undo is None or step.undo in d.COMPENSATIONS


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    policy = d.FORWARD[1].retry
    delays = [policy.delay(n) for n in range(1, 11)]
    assert 0.2 <= delays[0] <= 0.4
    assert all(x <= 10.0 for x in delays) and delays[-1] == 10.0
    assert delays[4] > delays[1]


def test_notifications_are_best_effort_and_outside_the_deadline() -> None:
    confirm = d.STEPS["SEND_CONFIRMATION"]
    assert confirm.best_effort and not confirm.timed
    assert d.STEPS["SEND_CANCELLATION"].best_effort


def test_cancel_reasons() -> None:
    assert d.cancel_reason_for("OUT_OF_STOCK") == "OUT_OF_STOCK"
    assert d.cancel_reason_for("PRODUCT_INACTIVE") == "PRODUCT_UNAVAILABLE"
    assert d.cancel_reason_for("FRAUD_SUSPECTED") == "FRAUD_SUSPECTED"
    assert d.cancel_reason_for(None) == "PROCESSING_TIMEOUT"


def _aio_error(failure: RpcFailure) -> grpc.aio.AioRpcError:
    status = failure.to_status()
    return grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(),
                                grpc.aio.Metadata(*status.trailing_metadata), status.details)


@pytest.mark.parametrize(("code", "kind", "breaker"), [
    (grpc.StatusCode.UNAVAILABLE, Kind.TRANSIENT, True),
    (grpc.StatusCode.DEADLINE_EXCEEDED, Kind.TRANSIENT, True),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, Kind.TRANSIENT, False),
    (grpc.StatusCode.ABORTED, Kind.TRANSIENT, False),
    (grpc.StatusCode.FAILED_PRECONDITION, Kind.PERMANENT, False),
    (grpc.StatusCode.INVALID_ARGUMENT, Kind.PERMANENT, False),
    (grpc.StatusCode.NOT_FOUND, Kind.PERMANENT, False),
    (grpc.StatusCode.INTERNAL, Kind.PERMANENT, True),
])
def test_grpc_status_maps_to_one_outcome(code: grpc.StatusCode, kind: Kind,
                                         breaker: bool) -> None:
    error = from_rpc_error(_aio_error(RpcFailure(code, "boom", reason="SOME_REASON")))
    assert (error.kind, error.breaker_failure, error.reason) == (kind, breaker, "SOME_REASON")


def test_settings_refuse_a_lease_shorter_than_a_step() -> None:
    from orchestrator.saga.config import WorkerSettings
    from svckit.config import ConfigError

    env = {"DATABASE_URL": "postgresql://x/y", "JWT_SECRET": "s", "SAGA_LEASE": "5s"}
    with pytest.raises(ConfigError, match="SAGA_LEASE"):
        WorkerSettings.from_env(env)
    settings = WorkerSettings.from_env({**env, "SAGA_LEASE": "30s"})
    assert (settings.call_timeout, settings.metrics_port, settings.breaker_failures) == (
        5.0, 9161, 5)
