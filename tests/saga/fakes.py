"""Scripted saga ports for engine tests: each action answers from a script, then succeeds."""

from __future__ import annotations

from collections import defaultdict

from orchestrator.saga.outcomes import Kind, StepError
from orchestrator.saga.ports import Call


def transient(reason: str | None = None) -> StepError:
    return StepError(Kind.TRANSIENT, "unavailable", reason=reason, code="UNAVAILABLE",
                     breaker_failure=True)


def permanent(reason: str) -> StepError:
    return StepError(Kind.PERMANENT, reason.lower(), reason=reason, code="FAILED_PRECONDITION")


class FakePorts:
    """Records every call (action, key); `script[action]` lists errors to raise first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.script: dict[str, list[StepError | None]] = defaultdict(list)

    def fail(self, action: str, *errors: StepError | None) -> None:
        self.script[action].extend(errors)

    def actions(self, order_id: str) -> list[str]:
        return [a for a, key in self.calls if key.startswith(order_id)]

    async def _do(self, action: str, call: Call) -> None:
        self.calls.append((action, call.key))
        if self.script[action]:
            error = self.script[action].pop(0)
            if error is not None:
                raise error

    async def reserve_stock(self, call: Call) -> None:
        await self._do("reserve_stock", call)

    async def release_stock(self, call: Call) -> None:
        await self._do("release_stock", call)

    async def commit_stock(self, call: Call) -> None:
        await self._do("commit_stock", call)

    async def restock(self, call: Call) -> None:
        await self._do("restock", call)

    async def charge_payment(self, call: Call) -> None:
        await self._do("charge_payment", call)

    async def refund_payment(self, call: Call) -> None:
        await self._do("refund_payment", call)

    async def send_confirmation(self, call: Call) -> None:
        await self._do("send_confirmation", call)

    async def send_cancellation(self, call: Call) -> None:
        await self._do("send_cancellation", call)
