"""The one place server-side exceptions become statuses."""

from __future__ import annotations

import grpc
import psycopg.errors
import psycopg_pool
import pytest

from svckit.interceptor import _failure_for
from svckit.rpcerrors import RpcFailure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (psycopg.errors.DeadlockDetected("deadlock"), grpc.StatusCode.ABORTED, "CONCURRENT_UPDATE"),
        (psycopg.errors.SerializationFailure("x"), grpc.StatusCode.ABORTED, "CONCURRENT_UPDATE"),
        (psycopg.OperationalError("down"), grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE"),
        (psycopg_pool.PoolTimeout("busy"), grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE"),
        (ValueError("bug"), grpc.StatusCode.INTERNAL, "INTERNAL"),
        (RpcFailure(grpc.StatusCode.NOT_FOUND, "gone", reason="X"), grpc.StatusCode.NOT_FOUND, "X"),
    ],
)
def test_exceptions_map_to_statuses(
    error: BaseException, code: grpc.StatusCode, reason: str
) -> None:
    failure = _failure_for(error, "/pkg.Svc/Method")
    assert (failure.code, failure.reason) == (code, reason)


def test_retry_hints_only_where_retrying_helps() -> None:
    assert _failure_for(psycopg.errors.DeadlockDetected("d"), "/m").retry_after is not None
    assert _failure_for(ValueError("bug"), "/m").retry_after is None
