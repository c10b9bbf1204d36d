"""Which repair applies in which saga state (pure rules, no I/O)."""

from __future__ import annotations

import pytest

from orchestrator.admin import repairs
from orchestrator.admin.errors import Refused

pytestmark = pytest.mark.unit


def saga(status: str = "RUNNING", step: str = "CHARGE_PAYMENT", paused: bool = False) -> dict:
    return {"saga_id": "s", "order_id": "o", "status": status, "current_step": step,
            "paused": paused, "attempt": 3}


@pytest.mark.parametrize(("verb", "state", "why"), [
    ("retry", saga("COMPLETED", "COMPLETE_ORDER"), "nothing to retry"),
    ("retry", saga("COMPENSATED", "MARK_CANCELLED"), "nothing to retry"),
    ("retry", saga(paused=True), "sagas resume"),
    ("compensate", saga("COMPLETED", "COMPLETE_ORDER"), "confirmed"),
    ("compensate", saga("COMPENSATED"), "already compensated"),
    ("compensate", saga("COMPENSATING", "RELEASE_STOCK"), "already compensating"),
    ("pause", saga("FAILED"), "only a RUNNING or COMPENSATING"),
    ("pause", saga(paused=True), "already paused"),
    ("resume", saga(), "not paused"),
    ("fail", saga("COMPLETED"), "only a RUNNING or COMPENSATING"),
    ("fail", saga("FAILED"), "only a RUNNING or COMPENSATING"),
])
def test_refusals_name_the_reason(verb: str, state: dict, why: str) -> None:
    with pytest.raises(Refused, match=why):
        repairs.plan(verb, state, "r")


def test_retry_resets_the_budget_and_runs_now() -> None:
    plan = repairs.plan("retry", saga(), None)
    assert (plan.change.attempt_reset, plan.change.run_now, plan.enqueue) == (True, True, True)
    assert plan.change.status is None and plan.after == "RUNNING"


def test_retry_of_failed_resumes_in_the_direction_it_stopped() -> None:
    forward = repairs.plan("retry", saga("FAILED", "COMMIT_STOCK"), None)
    backward = repairs.plan("retry", saga("FAILED", "REFUND_PAYMENT"), None)
    assert (forward.after, forward.change.order_status) == ("RUNNING", "PROCESSING")
    assert backward.after == "COMPENSATING"


def test_compensate_goes_through_the_cancel_flag() -> None:
    plan = repairs.plan("compensate", saga(paused=True), "customer phoned")
    assert plan.change.cancel_reason == repairs.OPERATOR_REASON
    assert (plan.change.paused, plan.enqueue, plan.after) == (False, True, "COMPENSATING")


def test_fail_marks_the_order_failed_and_stops_retries() -> None:
    plan = repairs.plan("fail", saga("COMPENSATING", "REFUND_PAYMENT"), "PSP down")
    assert (plan.change.status, plan.change.order_status, plan.change.clear_next) == (
        "FAILED", "FAILED", True)
    assert "PSP down" in (plan.change.last_error or "") and not plan.enqueue
