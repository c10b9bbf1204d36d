"""The simulator and settings alone: no I/O."""

from __future__ import annotations

from collections import Counter

import pytest

from payment_svc.config import Settings
from payment_svc.domain import Outcome
from payment_svc.simulator import Simulator
from svckit.config import ConfigError

pytestmark = pytest.mark.unit


def simulator(mode: str = "random", seed: int | None = 7) -> Simulator:
    return Simulator(
        mode=mode,
        seed=seed,
        latency_ms=0,
        random_latency_ms=(100, 2000),
        fraud_threshold_minor=1_000_000,
    )


def decide(sim: Simulator, method: str = "pm_card_visa", key: str = "k", **kw: int):  # type: ignore[no-untyped-def]
    args = {"attempt_no": 1, "amount_minor": 100, "prior_transients": 0, **kw}
    return sim.decide(key=key, payment_method=method, **args)


def test_random_mode_mix_and_latency_follow_the_seed_design() -> None:
    sim = simulator()
    decisions = [decide(sim, key=f"order-{i}") for i in range(4000)]
    share = Counter(d.outcome for d in decisions)
    assert 0.77 < share[Outcome.SUCCEEDED] / 4000 < 0.83
    assert 0.12 < share[Outcome.TRANSIENT] / 4000 < 0.18
    assert 0.03 < share[Outcome.DECLINED] / 4000 < 0.07
    assert all(0.1 <= d.latency_seconds <= 2.0 for d in decisions)
    assert {d.decline_code for d in decisions if d.outcome == Outcome.DECLINED} >= {
        "insufficient_funds",
        "generic_decline",
    }


def test_a_seed_replays_the_same_decisions() -> None:
    first = [decide(simulator(seed=1), key=f"k{i}", attempt_no=2) for i in range(50)]
    again = [decide(simulator(seed=1), key=f"k{i}", attempt_no=2) for i in range(50)]
    other = [decide(simulator(seed=2), key=f"k{i}", attempt_no=2) for i in range(50)]
    assert first == again and first != other


def test_test_cards_are_deterministic_in_every_mode() -> None:
    for sim in (simulator("deterministic"), simulator("random")):
        assert decide(sim, "pm_card_ok").outcome == Outcome.SUCCEEDED
        assert decide(sim, "pm_card_declined").decline_code == "generic_decline"
        assert decide(sim, "pm_card_fraud").outcome == Outcome.FRAUD_SUSPECTED
        assert decide(sim, "pm_card_unavailable", prior_transients=9).outcome == Outcome.TRANSIENT
        flaky = [decide(sim, "pm_card_flaky", prior_transients=n).outcome for n in range(3)]
        assert flaky == [Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.SUCCEEDED]
    assert decide(simulator("deterministic"), "anything_else").outcome == Outcome.SUCCEEDED


def test_fraud_threshold_is_strictly_above_ten_thousand() -> None:
    sim = simulator("deterministic")
    assert decide(sim, "pm_card_ok", amount_minor=1_000_000).outcome == Outcome.SUCCEEDED
    over = decide(sim, "pm_card_ok", amount_minor=1_000_001)
    assert (over.outcome, over.decline_code) == (Outcome.FRAUD_SUSPECTED, "amount_over_limit")


def test_settings_defaults_and_errors_name_the_variable() -> None:
    base = {"DATABASE_URL": "postgresql://x/y", "JWT_SECRET": "s"}
    settings = Settings.from_env(base)
    assert (settings.grpc_port, settings.metrics_port, settings.latency_ms) == (50052, 9152, 0)
    assert (settings.simulator_mode, settings.random_seed) == ("deterministic", None)
    assert settings.velocity_limit_per_minute == 10
    tuned = Settings.from_env(
        {
            **base,
            "PAYMENT_SIMULATOR_MODE": "random",
            "PAYMENT_RANDOM_SEED": "42",
            "PAYMENT_RANDOM_LATENCY_MS": "5-10",
        }
    )
    assert (tuned.random_seed, tuned.random_latency_ms) == (42, (5, 10))
    for key, value in [
        ("PAYMENT_SIMULATOR_MODE", "chaos"),
        ("PAYMENT_LATENCY_MS", "-1"),
        ("PAYMENT_RANDOM_LATENCY_MS", "9-1"),
        ("PAYMENT_VELOCITY_LIMIT_PER_MINUTE", "ten"),
        ("PAYMENT_ATTEMPT_LEASE", "2s"),
    ]:
        with pytest.raises(ConfigError, match=key):
            Settings.from_env({**base, key: value})
