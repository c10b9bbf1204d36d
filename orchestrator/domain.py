"""Orders: statuses, the rules of a valid order, pricing from the catalog, the error hierarchy."""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

MAX_DISTINCT_PRODUCTS = 50
MAX_QUANTITY = 1000
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_PAYMENT_METHOD = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.FAILED)

    @property
    def rank(self) -> int:
        """Statuses only move forward; a watcher never goes back to a lower rank."""
        return 0 if self is OrderStatus.PENDING else 1 if self is OrderStatus.PROCESSING else 2


CANCELLABLE = (OrderStatus.PENDING, OrderStatus.PROCESSING)
CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"
ORDER_PLACED = "OrderPlaced"
ORDER_CANCEL_REQUESTED = "OrderCancelRequested"


class OrderError(Exception):
    """Base class of every order error the API answers with."""


class InvalidOrder(OrderError):
    """Raised when a request breaks the rules; carries (field path, why) violations."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        super().__init__("invalid order: " + ", ".join(f for f, _ in violations))
        self.violations = list(violations)


class OrderNotFound(OrderError):
    """Raised when an order does not exist or belongs to someone the caller may not see."""


class IdempotencyKeyReused(OrderError):
    """Raised when an idempotency key already placed an order with a different request."""


class OrderNotCancellable(OrderError):
    """Raised when cancelling an order that is CONFIRMED or FAILED."""


class NotAllowed(OrderError):
    """Raised when the caller's role may not perform the action."""


class CatalogUnavailable(OrderError):
    """Raised when the catalog cannot be read to price an order (retry later)."""


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    price_minor: int
    currency: str
    active: bool


@dataclass(frozen=True)
class PricedItem:
    product_id: str
    sku: str
    name: str
    unit_price_minor: int
    quantity: int

    @property
    def line_total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True)
class PlaceOrder:
    """A validated CreateOrder request, defaults applied."""

    customer_id: str
    lines: tuple[OrderLine, ...]
    payment_method: str
    locale: str
    contact_email: str
    callback_url: str
    idempotency_key: str
    # Hash of the request as the client sent it (before defaults from the token), so a retry
    # with a refreshed token still matches.
    fingerprint: str

@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    status: OrderStatus
    cancel_reason: str | None
    currency: str
    total_minor: int
    payment_method: str
    locale: str
    contact_email: str
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
    items: tuple[PricedItem, ...] = field(default=())


@dataclass(frozen=True)
class StatusSnapshot:
    order_id: str
    status: OrderStatus
    cancel_reason: str | None
    updated_at: datetime


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def request_fingerprint(lines: Sequence[OrderLine], **fields: str) -> str:
    """Hash of what a request asks for; a replayed key must come with the same one."""
    body = {"items": sorted((ln.product_id.lower(), ln.quantity) for ln in lines), **fields}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def validate_place_order(
    customer_id: str,
    lines: Sequence[OrderLine],
    *,
    payment_method: str,
    locale: str,
    contact_email: str,
    callback_url: str,
    idempotency_key: str,
    fingerprint: str = "",
) -> PlaceOrder:
    """The request as a PlaceOrder, or InvalidOrder naming every offending field."""
    bad: list[tuple[str, str]] = []
    if not lines:
        bad.append(("items", "at least one item is required"))
    elif len(lines) > MAX_DISTINCT_PRODUCTS:
        bad.append(("items", f"at most {MAX_DISTINCT_PRODUCTS} distinct products"))
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if not is_uuid(line.product_id):
            bad.append((f"items[{i}].product_id", "must be a product UUID"))
        elif str(uuid.UUID(line.product_id)) in seen:
            bad.append((f"items[{i}].product_id", "duplicate product; use one line per product"))
        else:
            seen.add(str(uuid.UUID(line.product_id)))
        if not 1 <= line.quantity <= MAX_QUANTITY:
            bad.append((f"items[{i}].quantity", f"must be between 1 and {MAX_QUANTITY}"))
    if not _PAYMENT_METHOD.match(payment_method):
        bad.append(("payment_method", "letters, digits and _ only, at most 64"))
    if not _LOCALE.match(locale):
        bad.append(("locale", "a language tag such as en or es-ES"))
    if contact_email and not _EMAIL.match(contact_email):
        bad.append(("contact_email", "not an email address"))
    if callback_url and not re.match(r"^https?://[^\s/]+\S*$", callback_url):
        bad.append(("callback_url", "must be an http(s) URL"))
    if len(callback_url) > 2000:
        bad.append(("callback_url", "at most 2000 characters"))
    if len(idempotency_key) > 255:
        bad.append(("idempotency_key", "at most 255 characters"))
    if bad:
        raise InvalidOrder(bad)
    return PlaceOrder(
        customer_id=customer_id,
        lines=tuple(OrderLine(str(uuid.UUID(ln.product_id)), ln.quantity) for ln in lines),
        payment_method=payment_method,
        locale=locale,
        contact_email=contact_email,
        callback_url=callback_url,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def price_items(
    lines: Sequence[OrderLine], catalog: Mapping[str, Product]
) -> tuple[str, int, tuple[PricedItem, ...]]:
    """(currency, total, items) priced from the catalog; InvalidOrder for what cannot be sold."""
    bad: list[tuple[str, str]] = []
    items: list[PricedItem] = []
    currencies: set[str] = set()
    for i, line in enumerate(lines):
        product = catalog.get(line.product_id)
        if product is None:
            bad.append((f"items[{i}].product_id", "unknown product"))
            continue
        if not product.active:
            bad.append((f"items[{i}].product_id", "product is not for sale"))
            continue
        currencies.add(product.currency)
        items.append(
            PricedItem(product.product_id, product.sku, product.name, product.price_minor,
                       line.quantity)
        )
    if len(currencies) > 1:
        bad.append(("items", "all products of an order must share one currency"))
    if bad:
        raise InvalidOrder(bad)
    total = sum(item.line_total_minor for item in items)
    return currencies.pop(), total, tuple(items)
