"""Order use cases, one method each, every one owning its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from orchestrator import store
from orchestrator.catalog import Catalog
from orchestrator.domain import (
    CANCELLABLE,
    CUSTOMER_CANCELLED,
    IdempotencyKeyReused,
    InvalidOrder,
    NotAllowed,
    Order,
    OrderLine,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
    PlaceOrder,
    StatusSnapshot,
    price_items,
    request_fingerprint,
    validate_place_order,
)
from svckit import pagetoken
from svckit.auth import Principal

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def parse_order_id(text: str, field: str = "order_id") -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidOrder([(field, "must be an order UUID")]) from None


def _may_see(principal: Principal, customer_id: str) -> bool:
    return principal.is_admin or principal.is_service or principal.subject == customer_id


def _sorted_items(order: Order) -> Order:
    """Items in the order the store returns them, so replays answer byte-identically."""
    return replace(order, items=tuple(sorted(order.items, key=lambda i: (i.sku, i.product_id))))


class Orders:
    """The order API's use cases over the pool and the catalog."""

    def __init__(self, pool: AsyncConnectionPool, catalog: Catalog, *, saga_deadline: float,
                 default_payment_method: str = "pm_card_ok") -> None:
        self.pool = pool
        self.catalog = catalog
        self.saga_deadline = saga_deadline
        self.default_payment_method = default_payment_method

    async def place(self, principal: Principal, lines: Sequence[OrderLine], *,
                    payment_method: str = "", locale: str = "", contact_email: str = "",
                    callback_url: str = "", idempotency_key: str = "") -> tuple[Order, bool]:
        """(order, replayed): a new PENDING order, or the one this idempotency key placed."""
        if principal.role not in ("customer", "admin"):
            raise NotAllowed("only customers and admins place orders")
        request = validate_place_order(
            principal.subject, lines,
            payment_method=payment_method or self.default_payment_method,
            locale=locale or principal.locale or "en",
            contact_email=contact_email or principal.email,
            callback_url=callback_url, idempotency_key=idempotency_key,
            fingerprint=request_fingerprint(
                lines, payment_method=payment_method, locale=locale,
                contact_email=contact_email, callback_url=callback_url,
            ),
        )
        products = await self.catalog.products([line.product_id for line in request.lines])
        try:
            currency, total, items = price_items(request.lines, products)
        except InvalidOrder:
            # A replay answers with the original order even if the catalog changed since.
            replayed = await self._replay(request) if request.idempotency_key else None
            if replayed is None:
                raise
            return replayed, True
        order_id = uuid.uuid4()
        try:
            async with self.pool.connection() as conn, conn.transaction():
                created_at, updated_at = await store.place_order(
                    conn, order_id, request, currency, total, items, self.saga_deadline
                )
        except store.KeyTaken:
            # A concurrent request with this key committed first: answer with its order.
            replayed = await self._replay(request)
            if replayed is None:
                raise
            return replayed, True
        order = Order(
            order_id=str(order_id), customer_id=request.customer_id, status=OrderStatus.PENDING,
            cancel_reason=None, currency=currency, total_minor=total,
            payment_method=request.payment_method, locale=request.locale,
            contact_email=request.contact_email, callback_url=request.callback_url or None,
            created_at=created_at, updated_at=updated_at, items=items,
        )
        return _sorted_items(order), False

    async def _replay(self, request: PlaceOrder) -> Order | None:
        async with self.pool.connection() as conn:
            row = await store.find_key(conn, request.customer_id, request.idempotency_key)
            if row is None:
                return None
            if row["request_hash"] != request.fingerprint:
                raise IdempotencyKeyReused(
                    "this idempotency key was used with a different request"
                )
            order = await store.get_order(conn, row["order_id"])
        if order is None:
            raise OrderNotFound(str(row["order_id"]))
        return _sorted_items(order)

    async def get(self, principal: Principal, order_id: str) -> Order:
        oid = parse_order_id(order_id)
        async with self.pool.connection() as conn:
            order = await store.get_order(conn, oid)
        if order is None or not _may_see(principal, order.customer_id):
            raise OrderNotFound(order_id)
        return _sorted_items(order)

    async def status(self, principal: Principal, order_id: str) -> StatusSnapshot:
        oid = parse_order_id(order_id)
        async with self.pool.connection() as conn:
            found = await store.status_snapshots(conn, [oid])
        if not found or not _may_see(principal, found[0][0]):
            raise OrderNotFound(order_id)
        return found[0][1]

    async def list_orders(self, principal: Principal, *, page_size: int = 0, page_token: str = "",
                   status: OrderStatus | None = None, customer_id: str = ""
                   ) -> tuple[list[Order], str]:
        """(orders newest first, next page token or "")."""
        if page_size < 0:
            raise InvalidOrder([("page_size", "must not be negative")])
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if principal.is_admin or principal.is_service:
            owner = customer_id or None
        elif customer_id and customer_id != principal.subject:
            raise NotAllowed("customers list only their own orders")
        else:
            owner = principal.subject
        after = None
        if page_token:
            try:
                created, oid = pagetoken.decode(page_token, 2)
                after = (datetime.fromisoformat(created), uuid.UUID(oid))
            except (ValueError, TypeError):
                raise InvalidOrder([("page_token", "not a token from this API")]) from None
        async with self.pool.connection() as conn:
            rows = await store.list_orders(conn, customer_id=owner, status=status, after=after,
                                           limit=size + 1)
        page = [_sorted_items(o) for o in rows[:size]]
        token = ""
        if len(rows) > size:
            last = page[-1]
            token = pagetoken.encode(last.created_at, last.order_id)
        return page, token

    async def cancel(self, principal: Principal, order_id: str) -> tuple[Order, bool]:
        """(order, cancel on record). Flags the saga and emits OrderCancelRequested once."""
        oid = parse_order_id(order_id)
        async with self.pool.connection() as conn, conn.transaction():
            # The row lock orders this against the saga worker's status changes.
            order = await store.get_order(conn, oid, for_update=True)
            if order is None or not (principal.is_admin or principal.subject == order.customer_id):
                raise OrderNotFound(order_id)
            if order.status in CANCELLABLE:
                await store.request_cancel(conn, oid, CUSTOMER_CANCELLED)
                return _sorted_items(order), True
            if order.status is OrderStatus.CANCELLED:
                return _sorted_items(order), await store.cancel_requested(conn, oid)
        raise OrderNotCancellable(f"order is {order.status.value}")

    async def purge_keys(self, retention: float) -> int:
        async with self.pool.connection() as conn:
            return await store.purge_keys(conn, retention)
