"""The calls the saga makes, as an interface: gRPC clients in production, fakes in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.saga.store import OrderView


@dataclass(frozen=True)
class Call:
    """One step's call: the order, its idempotency key, its deadline, the cancel reason."""

    order: OrderView
    key: str  # "<order_id>:<STEP>"
    timeout: float  # seconds, the gRPC deadline
    reason: str | None = None  # the cancel reason, for compensations and the cancellation notice


class SagaPorts(Protocol):
    """One method per Step.action of the definition; each raises outcomes.StepError on failure."""

    async def reserve_stock(self, call: Call) -> None: ...
    async def release_stock(self, call: Call) -> None: ...
    async def commit_stock(self, call: Call) -> None: ...
    async def restock(self, call: Call) -> None: ...
    async def charge_payment(self, call: Call) -> None: ...
    async def refund_payment(self, call: Call) -> None: ...
    async def send_confirmation(self, call: Call) -> None: ...
    async def send_cancellation(self, call: Call) -> None: ...
