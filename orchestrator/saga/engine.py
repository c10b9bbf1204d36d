"""Drives one saga as far as it can go per message: claim, call, write, repeat.

The engine holds the saga's lease (a token on the saga row timed by PostgreSQL's clock) while it
works; each step's result and the saga's next position are written in one guarded statement, so
a worker that lost its lease changes nothing. A transient failure persists the attempt and
`next_attempt_at` and hands the saga to a delayed message; the worker never sleeps.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.saga import definition as d
from orchestrator.saga import metrics
from orchestrator.saga.breaker import Breakers
from orchestrator.saga.outcomes import BreakerOpen, Kind, StepError
from orchestrator.saga.ports import Call, SagaPorts
from orchestrator.saga.store import LogEntry, OrderView, SagaState, SagaStore, Write
from svckit import logs

log = logging.getLogger(__name__)

Scheduler = Callable[[str, float], Awaitable[None]]  # (order_id, delay seconds)


class SagaEngineError(Exception):
    """Raised when a message cannot be processed (Dramatiq retries it, then dead-letters it)."""


class PoisonMessage(SagaEngineError):
    """Raised when a message can never be processed (malformed): dead-lettered at once."""


class SagaNotFound(SagaEngineError):
    """Raised when a message names an order that has no saga."""


@dataclass
class Result:
    """What one advance did: skipped, scheduled, paused, COMPLETED, COMPENSATED, FAILED, lost."""

    outcome: str
    steps: int = 0


class Engine:
    def __init__(self, store: SagaStore, ports: SagaPorts, breakers: Breakers | None,
                 schedule: Scheduler, *, call_timeout: float = 5.0, backoff_scale: float = 1.0,
                 crash_after_step: str | None = None) -> None:
        self.store = store
        self.ports = ports
        self.breakers = breakers
        self.schedule = schedule
        self.call_timeout = call_timeout
        self.backoff_scale = backoff_scale
        self.crash_after_step = crash_after_step

    async def advance(self, order_id: str, message_id: str) -> Result:
        try:
            oid = uuid.UUID(str(order_id))
        except ValueError:
            raise PoisonMessage(f"not an order id: {order_id!r}") from None
        token = uuid.uuid4()
        claimed = await self.store.claim(oid, message_id, token)
        if claimed is None:
            if not await self.store.saga_exists(oid):
                raise SagaNotFound(f"no saga for order {order_id}")
            metrics.MESSAGES.labels("skipped").inc()
            return Result("skipped")
        state, order = claimed
        logs.order_id.set(order.order_id)
        metrics.MESSAGES.labels("advanced").inc()
        try:
            return await _Run(self, state, order, token, message_id).run()
        except BaseException:
            # Hand the saga back at once rather than when the lease runs out.
            try:
                await self.store.release(state.saga_id, token)
            except Exception:
                log.warning("could not release saga lease", exc_info=True)
            raise
        finally:
            logs.saga_step.set(None)


class _Run:
    """One advance of one saga (state held in memory between the guarded writes)."""

    def __init__(self, engine: Engine, state: SagaState, order: OrderView, token: uuid.UUID,
                 message_id: str) -> None:
        self.e = engine
        self.state = state
        self.order = order
        self.token = token
        self.message_id = message_id
        self.pending: list[LogEntry] = []  # results not yet written (coalesced with the next)
        self.last_error: str | None = None
        self.paused = False
        self.steps = 0

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> Result:
        s = self.state
        while True:
            if s.status == "RUNNING":
                step = d.STEPS[s.current_step]
                if s.cancel_requested or (s.expired and step.timed):
                    reason = ((s.cancel_reason or d.CUSTOMER_REASON) if s.cancel_requested
                              else d.TIMEOUT_REASON)
                    # An attempted step may have landed: undo it too.
                    in_doubt = s.attempt > 0
                    self._compensate(reason, d.next_forward(step.name) or d.END if in_doubt
                                     else step.name)
                    continue
                if step.action is None:
                    return await self._finish("COMPLETED", "CONFIRMED", None, step)
            else:
                step = d.STEPS[s.current_step]
                if step.action is None:
                    return await self._finish("COMPENSATED", "CANCELLED",
                                              s.compensation_reason, step)
            error, ms = await self._call(step)
            self.steps += 1
            done = await self._after_call(step, error, ms)
            if done is not None:
                return done
            if self.paused and not self.pending:
                # An operator paused the saga meanwhile: stop here; `resume` continues it.
                await self.e.store.release(s.saga_id, self.token)
                log.info("saga paused by an operator; stopping")
                return Result("paused", self.steps)

    async def _after_call(self, step: d.Step, error: StepError | None, ms: float
                          ) -> Result | None:
        s = self.state
        direction = "do" if s.status == "RUNNING" else "undo"
        attempt = s.attempt + 1
        err_text = error.describe() if error else None
        if err_text:
            self.last_error = err_text
        metrics.STEP_SECONDS.labels(step.name, "ok" if error is None else error.kind.value
                                    ).observe(ms / 1000)
        if error and error.kind is Kind.PERMANENT and error.reason in step.nothing_to_undo:
            error = None  # nothing to undo: the compensation holds
        if error is None:
            self.pending.append(LogEntry(step.name, direction, attempt, "OK", err_text, ms))
            return await self._advance_past(step)
        if error.transient and attempt < step.retry.max_attempts:
            self.pending.append(LogEntry(step.name, direction, attempt, "RETRY", err_text, ms))
            return await self._retry_later(step, attempt)
        exhausted = error.transient
        outcome = "GAVE_UP" if exhausted else ("SKIPPED" if step.best_effort else "FAILED")
        self.pending.append(LogEntry(step.name, direction, attempt, outcome, err_text, ms))
        if step.best_effort:
            return await self._advance_past(step)
        if s.status == "RUNNING":
            if exhausted:  # the last try may have landed: undo this step too
                self._compensate(d.TIMEOUT_REASON, d.next_forward(step.name) or d.END)
            else:
                self._compensate(d.cancel_reason_for(error.reason), step.name)
            return None
        # A compensation that cannot finish: an operator must act.
        return await self._finish("FAILED", "FAILED", s.compensation_reason, None)

    # --- transitions ----------------------------------------------------------------------

    def _compensate(self, reason: str, compensate_from: str) -> None:
        s = self.state
        s.status = "COMPENSATING"
        s.compensate_from = compensate_from
        s.compensation_reason = reason
        s.current_step = d.compensation_plan(compensate_from)[0]
        s.attempt = 0
        metrics.COMPENSATIONS.labels(reason).inc()
        log.info("saga compensating", extra={"reason": reason, "from": compensate_from})

    def _next_step(self, step: d.Step) -> str:
        s = self.state
        if s.status == "RUNNING":
            following = d.next_forward(step.name)
            assert following is not None, "the last forward step is local"
            return following
        assert s.compensate_from is not None
        plan = d.compensation_plan(s.compensate_from)
        return plan[plan.index(step.name) + 1]

    async def _advance_past(self, step: d.Step) -> Result | None:
        s = self.state
        s.current_step = self._next_step(step)
        s.attempt = 0
        if d.STEPS[s.current_step].action is None:
            return None  # a local step next: its write carries this result (one round trip)
        row = await self._write(self._position())
        return Result("lost", self.steps) if row is None else None

    async def _retry_later(self, step: d.Step, attempt: int) -> Result:
        s = self.state
        delay = step.retry.delay(attempt) * self.e.backoff_scale
        write = self._position()
        write.attempt = attempt
        write.retry_in = delay
        write.cap_at_deadline = s.status == "RUNNING" and step.timed
        write.release = True
        write.message_id = self.message_id
        row = await self._write(write)
        if row is None:
            return Result("lost", self.steps)
        # The delay as PostgreSQL computed it (capped by the saga deadline).
        wait = max(float(row["retry_in"] or 0.0), 0.0)
        try:
            await self.e.schedule(self.order.order_id, wait)
        except Exception:
            log.warning("could not schedule the retry; the sweeper will", exc_info=True)
        metrics.RETRIES.labels(step.name).inc()
        return Result("scheduled", self.steps)

    async def _finish(self, status: str, order_status: str, reason: str | None,
                      step: d.Step | None) -> Result:
        s = self.state
        direction = "do" if s.status == "RUNNING" else "undo"
        if step is not None:
            self.pending.append(LogEntry(step.name, direction, 1, "OK", None, 0.0))
        write = self._position()
        write.status = status
        write.order_status = order_status
        write.order_reason = reason
        write.release = True
        write.message_id = self.message_id
        write.unless_cancel_requested = status == "COMPLETED"
        row = await self._write(write)
        if row is None:
            holds = await self.e.store.holds(s.saga_id, self.token)
            if status == "COMPLETED" and holds and holds["mine"] and holds["cancel_requested"]:
                # CancelOrder won the race against COMPLETE_ORDER: compensate instead.
                s.cancel_requested = True
                s.cancel_reason = None
                return await self.run()
            return Result("lost", self.steps)
        metrics.OUTCOMES.labels(status, reason or "").inc()
        log.info("saga finished", extra={"status": status, "reason": reason})
        return Result(status, self.steps)

    # --- I/O ------------------------------------------------------------------------------

    def _position(self) -> Write:
        """A write of the saga's current position (callers add what else changes)."""
        s = self.state
        return Write(status=s.status, current_step=s.current_step, attempt=s.attempt,
                     compensate_from=s.compensate_from,
                     compensation_reason=s.compensation_reason, last_error=self.last_error)

    async def _write(self, write: Write) -> dict[str, Any] | None:
        write.log, self.pending = self.pending, []
        row = await self.e.store.write(self.state, self.token, write)
        if row is None:
            log.warning("saga write matched nothing (lease lost or cancel won)")
            return None
        for entry in write.log:
            if entry.outcome != "RETRY":
                self._crash_point(entry.step)
        s = self.state
        s.cancel_requested = bool(row["cancel_requested"])
        s.cancel_reason = row["cancel_reason"]
        s.expired = bool(row["expired"])
        s.version = int(row["version"])
        self.paused = bool(row["paused"])
        return row

    async def _call(self, step: d.Step) -> tuple[StepError | None, float]:
        assert step.action is not None
        logs.saga_step.set(step.name)
        call = Call(self.order, f"{self.order.order_id}:{step.name}", self.e.call_timeout,
                    self.state.compensation_reason)
        started = time.monotonic()
        breakers, service = self.e.breakers, step.service
        before = None
        if breakers is not None and service is not None:
            before = await breakers.acquire(service)
            if not before.allowed:
                return BreakerOpen(service), (time.monotonic() - started) * 1000
        error: StepError | None = None
        try:
            await getattr(self.e.ports, step.action)(call)
        except StepError as exc:
            error = exc
        ms = (time.monotonic() - started) * 1000
        if breakers is not None and service is not None and before is not None:
            await breakers.record(service, failed=bool(error and error.breaker_failure),
                                  before=before)
        return error, ms

    def _crash_point(self, step: str) -> None:
        """Test-only (SAGA_CRASH_AFTER_STEP): die like `kill -9` right after a step commits."""
        if self.e.crash_after_step and self.e.crash_after_step in (step, "ANY"):
            log.warning("crash point reached: SIGKILL", extra={"step": step})
            os.kill(os.getpid(), signal.SIGKILL)
