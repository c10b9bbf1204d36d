"""Inventory rules without I/O."""

from __future__ import annotations

import uuid

import pytest

from inventory_svc.domain import (
    Item,
    items_fingerprint,
    shortfall,
    sorted_items,
    validate_items,
)

pytestmark = pytest.mark.unit

A = str(uuid.UUID(int=1))
B = str(uuid.UUID(int=2))


def test_valid_items_have_no_violations() -> None:
    assert validate_items([Item(A, 1), Item(B, 1000)]) == []


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([Item("not-a-uuid", 1)], "items[0].product_id"),
        ([Item(A, 0)], "items[0].quantity"),
        ([Item(A, 1001)], "items[0].quantity"),
        ([Item(A, 1), Item(A.upper(), 2)], "items[1].product_id"),
        ([Item(str(uuid.uuid4()), 1) for _ in range(51)], "items"),
    ],
)
def test_invalid_items_name_the_field(items: list[Item], field: str) -> None:
    assert field in [f for f, _ in validate_items(items)]


def test_fingerprint_ignores_item_order() -> None:
    assert items_fingerprint([Item(A, 1), Item(B, 2)]) == items_fingerprint(
        [Item(B, 2), Item(A, 1)]
    )
    assert items_fingerprint([Item(A, 1)]) != items_fingerprint([Item(A, 2)])


def test_items_are_locked_in_product_order() -> None:
    assert [i.product_id for i in sorted_items([Item(B, 1), Item(A, 1)])] == [A, B]


def test_shortfall_names_the_first_missing_product() -> None:
    assert shortfall([Item(A, 2), Item(B, 5)], {A: 2, B: 5}) is None
    missing = shortfall([Item(A, 2), Item(B, 6)], {A: 2, B: 5})
    assert missing is not None and missing.product_id == B and missing.available == 5
