"""Inventory rules: products, stock arithmetic, reservation states and the service's errors."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum

MAX_QUANTITY = 1000
MAX_ITEMS = 50
MAX_PRICE_MINOR = 100_000_000_00  # 100 million in major units: a typo guard, not a business rule
CURRENCIES = frozenset({"EUR", "USD", "GBP"})


class InventoryError(Exception):
    """Base of the inventory service's errors."""


class ProductNotFound(InventoryError):
    """Raised when a product id matches no product."""

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


class ProductInactive(InventoryError):
    """Raised when an inactive product is reserved."""

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} is not active")
        self.product_id = product_id


class DuplicateSku(InventoryError):
    """Raised when a product is created with a SKU already in the catalog."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"SKU {sku!r} already exists")
        self.sku = sku


class OutOfStock(InventoryError):
    """Raised when a reservation asks for more units than are available."""

    def __init__(self, product_id: str, requested: int, available: int) -> None:
        super().__init__(f"product {product_id}: {requested} requested, {available} available")
        self.product_id = product_id
        self.requested = requested
        self.available = available


class InsufficientStock(InventoryError):
    """Raised when an adjustment would take on-hand stock below zero or below what is held."""

    def __init__(self, product_id: str, delta: int, on_hand: int, reserved: int) -> None:
        super().__init__(
            f"product {product_id}: cannot apply {delta} to on_hand {on_hand} "
            f"with {reserved} reserved"
        )
        self.product_id = product_id


class ReservationNotFound(InventoryError):
    """Raised when an order has no reservation."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"no reservation for order {order_id}")
        self.order_id = order_id


class ReservationExpired(InventoryError):
    """Raised when a hold is committed after it expired (its units were given back)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"reservation for order {order_id} expired")
        self.order_id = order_id


class ReservationConflict(InventoryError):
    """Raised when an order is reserved again with other items, or moved to an impossible state."""

    def __init__(self, order_id: str, detail: str) -> None:
        super().__init__(f"reservation for order {order_id}: {detail}")
        self.order_id = order_id


class ReservationStatus(StrEnum):
    HELD = "HELD"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    COMMITTED = "COMMITTED"
    RESTOCKED = "RESTOCKED"


class MovementKind(StrEnum):
    INITIAL = "INITIAL"
    ADJUST = "ADJUST"
    RESERVE = "RESERVE"
    RELEASE = "RELEASE"
    EXPIRE = "EXPIRE"
    SALE = "SALE"
    RESTOCK = "RESTOCK"


@dataclass(frozen=True)
class Item:
    product_id: str
    quantity: int


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def validate_items(items: list[Item]) -> list[tuple[str, str]]:
    """Field violations of a reservation's item list (empty when valid)."""
    problems: list[tuple[str, str]] = []
    if not items:
        return [("items", "at least one item is required")]
    if len(items) > MAX_ITEMS:
        return [("items", f"at most {MAX_ITEMS} distinct products per order")]
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not is_uuid(item.product_id):
            problems.append((f"items[{index}].product_id", "must be a UUID"))
        elif item.product_id.lower() in seen:
            problems.append((f"items[{index}].product_id", "duplicate product"))
        seen.add(item.product_id.lower())
        if not 1 <= item.quantity <= MAX_QUANTITY:
            problems.append((f"items[{index}].quantity", f"must be between 1 and {MAX_QUANTITY}"))
    return problems


def items_fingerprint(items: list[Item]) -> str:
    """Order-independent hash of an item list: the same order id must hold the same items."""
    canonical = ";".join(f"{i.product_id.lower()}:{i.quantity}" for i in sorted_items(items))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sorted_items(items: list[Item]) -> list[Item]:
    """Items in product-id order: rows are locked in this order, so reservations never deadlock."""
    return sorted(items, key=lambda i: i.product_id.lower())


def shortfall(items: list[Item], available: dict[str, int]) -> OutOfStock | None:
    """The first item that cannot be held from `available` (product id → units), if any."""
    for item in sorted_items(items):
        have = available.get(item.product_id.lower(), 0)
        if item.quantity > have:
            return OutOfStock(item.product_id, item.quantity, have)
    return None
