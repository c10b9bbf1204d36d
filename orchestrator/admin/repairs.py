"""What each repair verb does to a saga in a given state, or why it refuses (no I/O).

The saga's own machinery does the work: a retry makes the current step due with a fresh attempt
budget, a compensation sets `cancel_requested` so the engine undoes what was done through the
saga definition's compensation path, and each is followed by a message on the saga queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.admin.errors import Refused
from orchestrator.admin.store import ACTIVE, Change
from orchestrator.saga.definition import FORWARD_NAMES

OPERATOR_REASON = "OPERATOR_CANCELLED"  # the order's cancel reason after `sagas compensate`


@dataclass(frozen=True)
class Plan:
    change: Change
    after: str  # the saga status the repair leaves (for --dry-run and the audit)
    enqueue: bool  # send a saga message after the change commits


def _ref(saga: dict[str, Any]) -> str:
    return f"saga {saga['saga_id']} (order {saga['order_id']}) is {saga['status']}"


def _resumed_status(saga: dict[str, Any]) -> str:
    """A FAILED saga resumes in the direction of the step it stopped on."""
    return "RUNNING" if saga["current_step"] in FORWARD_NAMES else "COMPENSATING"


def retry(saga: dict[str, Any]) -> Plan:
    status = saga["status"]
    if status in ("COMPLETED", "COMPENSATED"):
        raise Refused(f"{_ref(saga)}: it has finished, there is nothing to retry")
    if saga["paused"]:
        raise Refused(f"{_ref(saga)} and paused: `sagas resume` runs it")
    if status == "FAILED":
        after = _resumed_status(saga)
        return Plan(Change(status=after, attempt_reset=True, run_now=True,
                           order_status="PROCESSING"), after, True)
    return Plan(Change(attempt_reset=True, run_now=True), status, True)


def compensate(saga: dict[str, Any]) -> Plan:
    status = saga["status"]
    if status == "COMPLETED":
        raise Refused(f"{_ref(saga)}: the order is confirmed, a saga compensation no longer"
                      " applies (refund through the payment service)")
    if status == "COMPENSATED":
        raise Refused(f"{_ref(saga)}: already compensated")
    if status == "COMPENSATING" and not saga["paused"]:
        raise Refused(f"{_ref(saga)}: already compensating (`sagas retry` runs it now)")
    if status == "FAILED" and _resumed_status(saga) == "COMPENSATING":
        return Plan(Change(status="COMPENSATING", attempt_reset=True, run_now=True,
                           paused=False, order_status="PROCESSING"), "COMPENSATING", True)
    if status == "COMPENSATING":  # paused mid-compensation: let it finish
        return Plan(Change(run_now=True, paused=False), "COMPENSATING", True)
    # RUNNING (or FAILED on a forward step): the engine compensates on its next claim.
    return Plan(Change(status="RUNNING", cancel_reason=OPERATOR_REASON, run_now=True,
                       paused=False, order_status="PROCESSING" if status == "FAILED" else None),
                "COMPENSATING", True)


def pause(saga: dict[str, Any]) -> Plan:
    if saga["status"] not in ACTIVE:
        raise Refused(f"{_ref(saga)}: only a RUNNING or COMPENSATING saga can be paused")
    if saga["paused"]:
        raise Refused(f"{_ref(saga)}: already paused")
    return Plan(Change(paused=True), saga["status"], False)


def resume(saga: dict[str, Any]) -> Plan:
    if not saga["paused"]:
        raise Refused(f"{_ref(saga)}: not paused, nothing to resume")
    return Plan(Change(paused=False, run_now=True), saga["status"],
                saga["status"] in ACTIVE)


def fail(saga: dict[str, Any], reason: str) -> Plan:
    if saga["status"] not in ACTIVE:
        raise Refused(f"{_ref(saga)}: only a RUNNING or COMPENSATING saga can be failed")
    return Plan(Change(status="FAILED", clear_next=True, paused=False,
                       last_error=f"marked FAILED by an operator: {reason}",
                       order_status="FAILED"), "FAILED", False)


VERBS = {"retry": retry, "compensate": compensate, "pause": pause, "resume": resume}


def plan(verb: str, saga: dict[str, Any], reason: str | None) -> Plan:
    if verb == "fail":
        return fail(saga, reason or "")
    return VERBS[verb](saga)
