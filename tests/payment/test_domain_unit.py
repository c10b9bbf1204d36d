"""Payment domain rules alone: validation, request fingerprints, money formatting."""

from __future__ import annotations

import pytest

from payment_svc.domain import (
    ChargeCommand,
    Money,
    PaymentStatus,
    charge_violations,
    status_after_refund,
)
from svckit.money import format_minor

pytestmark = pytest.mark.unit


def test_charge_validation_and_money_rules() -> None:
    good = ChargeCommand("k", "o", "c", Money("EUR", 1999), "pm_card_ok", "")
    assert charge_violations(good, True) == []
    assert [f for f, _ in charge_violations(good, False)] == ["amount"]
    bad = ChargeCommand(" ", "", "c" * 129, Money("eur", -1), "pm card", "d" * 501)
    assert [f for f, _ in charge_violations(bad, True)] == [
        "idempotency_key",
        "order_id",
        "customer_id",
        "amount.currency_code",
        "amount.amount_minor",
        "payment_method",
        "description",
    ]
    assert (
        good.request_hash()
        == ChargeCommand("other-key", "o", "c", Money("EUR", 1999), "pm_card_ok", "").request_hash()
    )
    assert (
        good.request_hash()
        != ChargeCommand("k", "o", "c", Money("EUR", 2000), "pm_card_ok", "").request_hash()
    )
    assert (format_minor(1999), format_minor(5), format_minor(100_000_000)) == (
        "19.99",
        "0.05",
        "1000000.00",
    )
    assert status_after_refund(1000, 1) == PaymentStatus.PARTIALLY_REFUNDED
    assert status_after_refund(1000, 1000) == PaymentStatus.REFUNDED
