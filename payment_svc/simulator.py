"""The gateway simulator: decides each attempt's outcome and latency, with no state of its own."""

from __future__ import annotations

import random
from dataclasses import dataclass

from payment_svc.domain import Outcome

DETERMINISTIC = "deterministic"
RANDOM = "random"

# Test payment methods behave the same in every mode, like a real gateway's test cards.
PM_OK = "pm_card_ok"
PM_DECLINED = "pm_card_declined"
PM_FRAUD = "pm_card_fraud"
PM_FLAKY = "pm_card_flaky"
PM_UNAVAILABLE = "pm_card_unavailable"
TEST_METHODS = frozenset({PM_OK, PM_DECLINED, PM_FRAUD, PM_FLAKY, PM_UNAVAILABLE})
FLAKY_FAILURES = 2

# The usual issuer decline codes the random mode picks from.
DECLINE_CODES = (
    "generic_decline",
    "insufficient_funds",
    "do_not_honor",
    "expired_card",
    "incorrect_cvc",
    "lost_card",
    "stolen_card",
)
RANDOM_SUCCESS = 0.80
RANDOM_TRANSIENT = 0.15  # the remaining 5 % are declines
TRANSIENT_MESSAGE = "the card network did not answer"


@dataclass(frozen=True)
class Decision:
    """One attempt's fate: outcome, decline code (declines only), simulated latency."""

    outcome: Outcome
    latency_seconds: float
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True)
class Simulator:
    mode: str
    seed: int | None
    latency_ms: int
    random_latency_ms: tuple[int, int]
    fraud_threshold_minor: int

    def rng(self, key: str, attempt_no: int) -> random.Random:
        """Seeded: the same seed, key and attempt always draw the same (any replica, any run)."""
        if self.seed is None:
            return random.Random()
        return random.Random(f"{self.seed}:{key}:{attempt_no}")

    def decide(
        self,
        *,
        key: str,
        attempt_no: int,
        payment_method: str,
        amount_minor: int,
        prior_transients: int,
    ) -> Decision:
        rng = self.rng(key, attempt_no)
        if self.mode == RANDOM:
            low, high = self.random_latency_ms
            latency = rng.uniform(low, high) / 1000.0
        else:
            latency = self.latency_ms / 1000.0
        if amount_minor > self.fraud_threshold_minor:
            return Decision(
                Outcome.FRAUD_SUSPECTED, latency, "amount_over_limit", "amount over the fraud limit"
            )
        if payment_method == PM_DECLINED:
            return Decision(Outcome.DECLINED, latency, "generic_decline", "the card was declined")
        if payment_method == PM_FRAUD:
            return Decision(Outcome.FRAUD_SUSPECTED, latency, "fraudulent", "suspected fraud")
        if payment_method == PM_UNAVAILABLE:
            return Decision(Outcome.TRANSIENT, latency, message=TRANSIENT_MESSAGE)
        if payment_method == PM_FLAKY:
            if prior_transients < FLAKY_FAILURES:
                return Decision(Outcome.TRANSIENT, latency, message=TRANSIENT_MESSAGE)
            return Decision(Outcome.SUCCEEDED, latency)
        if payment_method == PM_OK or self.mode != RANDOM:
            return Decision(Outcome.SUCCEEDED, latency)
        roll = rng.random()
        if roll < RANDOM_SUCCESS:
            return Decision(Outcome.SUCCEEDED, latency)
        if roll < RANDOM_SUCCESS + RANDOM_TRANSIENT:
            return Decision(Outcome.TRANSIENT, latency, message=TRANSIENT_MESSAGE)
        code = rng.choice(DECLINE_CODES)
        return Decision(Outcome.DECLINED, latency, code, "the card was declined")
