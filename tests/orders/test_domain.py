"""Order rules without I/O: validation, pricing from the catalog, request fingerprints."""

from __future__ import annotations

import uuid

import pytest

from orchestrator.domain import (
    InvalidOrder,
    OrderLine,
    OrderStatus,
    Product,
    price_items,
    request_fingerprint,
    validate_place_order,
)

pytestmark = pytest.mark.unit

A, B = str(uuid.uuid4()), str(uuid.uuid4())


def place(lines: list[OrderLine], **fields: str) -> object:
    defaults = {"payment_method": "pm_card_ok", "locale": "en", "contact_email": "",
                "callback_url": "", "idempotency_key": ""}
    return validate_place_order("c1", lines, **{**defaults, **fields})


def test_every_violation_is_reported_at_once() -> None:
    with pytest.raises(InvalidOrder) as caught:
        place([OrderLine("x", 0), OrderLine(A, 1), OrderLine(A.upper(), 2000)],
              payment_method="bad method!")
    assert [f for f, _ in caught.value.violations] == [
        "items[0].product_id", "items[0].quantity", "items[2].product_id",
        "items[2].quantity", "payment_method"]


def test_pricing_is_exact_and_refuses_what_cannot_be_sold() -> None:
    catalog = {A: Product(A, "SKU-A", "A", 1999, "EUR", True),
               B: Product(B, "SKU-B", "B", 5, "EUR", False)}
    currency, total, items = price_items([OrderLine(A, 3)], catalog)
    assert (currency, total, items[0].line_total_minor) == ("EUR", 5997, 5997)
    with pytest.raises(InvalidOrder) as caught:
        price_items([OrderLine(A, 1), OrderLine(B, 1), OrderLine(str(uuid.uuid4()), 1)],
                    catalog)
    assert [f for f, _ in caught.value.violations] == ["items[1].product_id",
                                                      "items[2].product_id"]


def test_mixed_currencies_are_refused() -> None:
    catalog = {A: Product(A, "SKU-A", "A", 100, "EUR", True),
               B: Product(B, "SKU-B", "B", 100, "USD", True)}
    with pytest.raises(InvalidOrder):
        price_items([OrderLine(A, 1), OrderLine(B, 1)], catalog)


def test_fingerprint_ignores_line_order_but_not_content() -> None:
    one = request_fingerprint([OrderLine(A, 1), OrderLine(B, 2)], locale="")
    assert one == request_fingerprint([OrderLine(B, 2), OrderLine(A.upper(), 1)], locale="")
    assert one != request_fingerprint([OrderLine(A, 1), OrderLine(B, 3)], locale="")
    assert one != request_fingerprint([OrderLine(A, 1), OrderLine(B, 2)], locale="es")


def test_statuses_only_move_forward() -> None:
    ranks = [s.rank for s in (OrderStatus.PENDING, OrderStatus.PROCESSING,
                              OrderStatus.CONFIRMED)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3
    assert {s for s in OrderStatus if s.terminal} == {
        OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.FAILED}
