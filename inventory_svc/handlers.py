"""Inventory use cases, each owning its transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from inventory_svc import store
from inventory_svc.domain import (
    DuplicateSku,
    InsufficientStock,
    Item,
    MovementKind,
    ProductInactive,
    ProductNotFound,
    ReservationConflict,
    ReservationExpired,
    ReservationNotFound,
    ReservationStatus,
    items_fingerprint,
    shortfall,
    sorted_items,
)
from inventory_svc.metrics import RESERVATION_EXPIRIES, RESERVATIONS

log = logging.getLogger(__name__)
Row = dict[str, Any]


@dataclass
class Inventory:
    """The inventory's use cases over one connection pool."""

    pool: AsyncConnectionPool
    default_ttl_seconds: float = 900.0

    async def list_products(
        self, *, limit: int, after: list[Any] | None, query: str, active: bool | None
    ) -> list[Row]:
        async with self.pool.connection() as conn:
            return await store.list_products(
                conn, limit=limit, after=after, query=query, active=active
            )

    async def get_products(self, product_ids: list[str]) -> list[Row]:
        async with self.pool.connection() as conn:
            return await store.get_products(conn, product_ids)

    async def get_product(self, product_id: str) -> Row:
        rows = await self.get_products([product_id])
        if not rows:
            raise ProductNotFound(product_id)
        return rows[0]

    async def create_product(self, values: Row, initial_stock: int, actor: str) -> Row:
        async with self.pool.connection() as conn, conn.transaction():
            created = await store.insert_product(conn, values)
            if created is None:
                raise DuplicateSku(values["sku"])
            if initial_stock:
                await store.apply_stock_changes(
                    conn,
                    MovementKind.INITIAL,
                    [(created["product_id"], initial_stock, 0)],
                    order_id=None,
                    reason="initial stock",
                    actor=actor,
                )
            return (await store.get_products(conn, [created["product_id"]]))[0]

    async def update_product(self, product_id: str, changes: Row) -> Row:
        async with self.pool.connection() as conn, conn.transaction():
            if not await store.update_product(conn, product_id, changes):
                raise ProductNotFound(product_id)
            return (await store.get_products(conn, [product_id]))[0]

    async def get_stock(self, product_id: str) -> Row:
        async with self.pool.connection() as conn:
            row = await store.get_stock(conn, product_id)
        if row is None:
            raise ProductNotFound(product_id)
        return row

    async def adjust_stock(
        self, product_id: str, delta: int, reason: str, actor: str
    ) -> tuple[Row, int]:
        async with self.pool.connection() as conn, conn.transaction():
            locked = await store.lock_stock(conn, [product_id])
            row = locked.get(product_id)
            if row is None:
                raise ProductNotFound(product_id)
            if row["on_hand"] + delta < row["reserved"]:
                raise InsufficientStock(product_id, delta, row["on_hand"], row["reserved"])
            [movement_id] = await store.apply_stock_changes(
                conn,
                MovementKind.ADJUST,
                [(product_id, delta, 0)],
                order_id=None,
                reason=reason,
                actor=actor,
            )
            stock_row = await store.get_stock(conn, product_id)
            assert stock_row is not None
            return stock_row, movement_id

    async def list_movements(
        self, product_id: str, *, limit: int, before_id: int | None
    ) -> list[Row]:
        async with self.pool.connection() as conn:
            if await store.get_stock(conn, product_id) is None:
                raise ProductNotFound(product_id)
            return await store.list_movements(conn, product_id, limit=limit, before_id=before_id)

    async def reserve(
        self, order_id: str, items: list[Item], ttl_seconds: float | None, actor: str
    ) -> Row:
        """Holds every item or none; the same order id gets its original hold back."""
        items = sorted_items([Item(i.product_id.lower(), i.quantity) for i in items])
        fingerprint = items_fingerprint(items)
        ttl = ttl_seconds or self.default_ttl_seconds
        async with self.pool.connection() as conn, conn.transaction():
            existing = await store.get_reservation(conn, order_id)
            if existing is not None:
                return _same_items(existing, fingerprint, order_id)
            if not await store.insert_reservation(conn, order_id, fingerprint, ttl):
                # A concurrent call for the same order committed first (the unique key made us
                # wait for it): answer with its hold.
                existing = await store.get_reservation(conn, order_id)
                assert existing is not None
                return _same_items(existing, fingerprint, order_id)
            pids = [i.product_id for i in items]
            locked = await store.lock_stock(conn, pids)
            for pid in pids:
                if pid not in locked:
                    raise ProductNotFound(pid)
                if not locked[pid]["active"]:
                    raise ProductInactive(pid)
            available = {pid: row["on_hand"] - row["reserved"] for pid, row in locked.items()}
            missing = shortfall(items, available)
            if missing is not None:
                RESERVATIONS.labels("out_of_stock").inc()
                raise missing
            await store.insert_reservation_items(conn, order_id, items)
            await store.apply_stock_changes(
                conn,
                MovementKind.RESERVE,
                [(i.product_id, 0, i.quantity) for i in items],
                order_id=order_id,
                reason="reserved",
                actor=actor,
                locked=True,
            )
            RESERVATIONS.labels("held").inc()
            held = await store.get_reservation(conn, order_id)
            assert held is not None
            return held

    async def release(self, order_id: str, reason: str, actor: str) -> Row:
        """HELD → RELEASED; a released, expired or never-held order is answered as it is."""
        async with self.pool.connection() as conn, conn.transaction():
            row = await store.get_reservation(conn, order_id, for_update=True)
            if row is None:
                raise ReservationNotFound(order_id)
            if row["status"] == ReservationStatus.HELD.value:
                await self._give_back(conn, row, MovementKind.RELEASE, reason or "released", actor)
                row["status"] = ReservationStatus.RELEASED.value
            elif row["status"] in (ReservationStatus.COMMITTED.value,):
                raise ReservationConflict(order_id, "already committed: restock it instead")
            return row

    async def commit(self, order_id: str, actor: str) -> Row:
        """HELD → COMMITTED (on_hand and reserved both drop); repeated commits are no-ops."""
        async with self.pool.connection() as conn, conn.transaction():
            row = await store.get_reservation(conn, order_id, for_update=True)
            if row is None:
                raise ReservationNotFound(order_id)
            status = row["status"]
            if status == ReservationStatus.COMMITTED.value:
                return row
            if status == ReservationStatus.HELD.value and row["is_expired"]:
                # Give the units back now (committed), then refuse the sale.
                await self._give_back(conn, row, MovementKind.EXPIRE, "expired at commit", actor)
            elif status == ReservationStatus.HELD.value:
                await store.apply_stock_changes(
                    conn,
                    MovementKind.SALE,
                    [(i.product_id, -i.quantity, -i.quantity) for i in row["items"]],
                    order_id=order_id,
                    reason="sold",
                    actor=actor,
                )
                await store.set_reservation_status(conn, order_id, ReservationStatus.COMMITTED)
                row["status"] = ReservationStatus.COMMITTED.value
                return row
        if row["status"] == ReservationStatus.EXPIRED.value:
            raise ReservationExpired(order_id)
        raise ReservationConflict(order_id, f"cannot commit a {row['status']} reservation")

    async def restock(self, order_id: str, reason: str, actor: str) -> Row:
        """COMMITTED → RESTOCKED (sold units return on hand); repeated restocks are no-ops."""
        async with self.pool.connection() as conn, conn.transaction():
            row = await store.get_reservation(conn, order_id, for_update=True)
            if row is None:
                raise ReservationNotFound(order_id)
            status = row["status"]
            if status == ReservationStatus.RESTOCKED.value:
                return row
            if status != ReservationStatus.COMMITTED.value:
                raise ReservationConflict(order_id, f"cannot restock a {status} reservation")
            await store.apply_stock_changes(
                conn,
                MovementKind.RESTOCK,
                [(i.product_id, i.quantity, 0) for i in row["items"]],
                order_id=order_id,
                reason=reason or "restocked",
                actor=actor,
            )
            await store.set_reservation_status(conn, order_id, ReservationStatus.RESTOCKED)
            row["status"] = ReservationStatus.RESTOCKED.value
            return row

    async def get_reservation(self, order_id: str) -> Row:
        async with self.pool.connection() as conn:
            row = await store.get_reservation(conn, order_id)
        if row is None:
            raise ReservationNotFound(order_id)
        return row

    async def reap_expired(self, batch: int = 100) -> int:
        """Releases expired holds; safe with any number of reapers running."""
        async with self.pool.connection() as conn, conn.transaction():
            order_ids = await store.claim_expired(conn, batch)
            rows = [await store.get_reservation(conn, order_id) for order_id in order_ids]
            # One batch holds many orders' rows: lock them all, in product-id order, up front.
            await store.lock_stock(
                conn, sorted({i.product_id for row in rows if row for i in row["items"]})
            )
            for row in rows:
                assert row is not None
                await self._give_back(
                    conn, row, MovementKind.EXPIRE, "hold expired", "reaper", locked=True
                )
        if order_ids:
            RESERVATION_EXPIRIES.inc(len(order_ids))
            log.info("released expired holds", extra={"count": len(order_ids)})
        return len(order_ids)

    async def _give_back(
        self,
        conn: Any,
        row: Row,
        kind: MovementKind,
        reason: str,
        actor: str,
        *,
        locked: bool = False,
    ) -> None:
        await store.apply_stock_changes(
            conn,
            kind,
            [(i.product_id, 0, -i.quantity) for i in row["items"]],
            order_id=row["order_id"],
            reason=reason,
            actor=actor,
            locked=locked,
        )
        status = (
            ReservationStatus.EXPIRED if kind is MovementKind.EXPIRE else ReservationStatus.RELEASED
        )
        await store.set_reservation_status(conn, row["order_id"], status)
        row["status"] = status.value


def _same_items(existing: Row, fingerprint: str, order_id: str) -> Row:
    if existing["items_hash"] != fingerprint:
        raise ReservationConflict(order_id, "already reserved with different items")
    return existing
