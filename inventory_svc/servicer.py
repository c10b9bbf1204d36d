"""gRPC InventoryService: proto <-> domain, and domain errors -> status by one table."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

from inventory_svc import domain
from inventory_svc.handlers import Inventory
from svckit import auth, pagetoken
from svckit.money import format_minor
from svckit.rpcerrors import RpcFailure, Violations, invalid

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InventoryService"].full_name
PUBLIC_METHODS = [f"/{SERVICE_NAME}/{name}" for name in ("ListProducts", "GetProduct", "GetStock")]
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_C = grpc.StatusCode
# Domain error -> (status code, ErrorInfo reason). The only place errors become statuses.
ERROR_TABLE: dict[type[domain.InventoryError], tuple[grpc.StatusCode, str]] = {
    domain.ProductNotFound: (_C.NOT_FOUND, "PRODUCT_NOT_FOUND"),
    domain.ProductInactive: (_C.FAILED_PRECONDITION, "PRODUCT_INACTIVE"),
    domain.DuplicateSku: (_C.ALREADY_EXISTS, "SKU_ALREADY_EXISTS"),
    domain.OutOfStock: (_C.FAILED_PRECONDITION, "OUT_OF_STOCK"),
    domain.InsufficientStock: (_C.FAILED_PRECONDITION, "INSUFFICIENT_STOCK"),
    domain.ReservationNotFound: (_C.NOT_FOUND, "RESERVATION_NOT_FOUND"),
    domain.ReservationExpired: (_C.FAILED_PRECONDITION, "RESERVATION_EXPIRED"),
    domain.ReservationConflict: (_C.FAILED_PRECONDITION, "RESERVATION_CONFLICT"),
}


def to_failure(error: domain.InventoryError) -> RpcFailure:
    code, reason = ERROR_TABLE[type(error)]
    metadata = {
        key: str(getattr(error, key))
        for key in ("product_id", "order_id", "sku", "requested", "available")
        if hasattr(error, key)
    }
    return RpcFailure(code, str(error), reason=reason, metadata=metadata)


def require_role(*roles: str) -> auth.Principal:
    principal = auth.current_principal.get()
    if principal is None or principal.role not in roles:
        raise RpcFailure(
            _C.PERMISSION_DENIED, f"requires role {' or '.join(roles)}", reason="PERMISSION_DENIED"
        )
    return principal


def _ts(value: Any) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(
        currency_code=currency, amount_minor=amount_minor, amount=format_minor(amount_minor)
    )


def product_pb(row: dict[str, Any]) -> pb.Product:
    return pb.Product(
        product_id=row["product_id"],
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        price=_money(row["price_minor"], row["currency"]),
        active=row["active"],
        create_time=_ts(row["created_at"]),
        update_time=_ts(row["updated_at"]),
        available=row["available"],
    )


def stock_pb(row: dict[str, Any]) -> pb.Stock:
    return pb.Stock(
        product_id=row["product_id"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
        available=row["on_hand"] - row["reserved"],
    )


def reservation_pb(row: dict[str, Any]) -> pb.Reservation:
    return pb.Reservation(
        order_id=row["order_id"],
        status=pb.ReservationStatus.Value(f"RESERVATION_STATUS_{row['status']}"),  # type: ignore[arg-type]
        items=[
            pb.ReservationItem(product_id=i.product_id, quantity=i.quantity) for i in row["items"]
        ],
        expire_time=_ts(row["expires_at"]),
        create_time=_ts(row["created_at"]),
        update_time=_ts(row["updated_at"]),
    )


def _uuid_field(value: str, field: str) -> str:
    if not domain.is_uuid(value.lower()):
        raise invalid(field, "must be a UUID")
    return value.lower()


def _page_size(value: int) -> int:
    if value < 0:
        raise invalid("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _price(money: money_pb2.Money, field: str, violations: Violations) -> tuple[int, str]:
    if money.currency_code not in domain.CURRENCIES:
        violations.add(f"{field}.currency_code", f"must be one of {sorted(domain.CURRENCIES)}")
    if not 0 < money.amount_minor <= domain.MAX_PRICE_MINOR:
        violations.add(f"{field}.amount_minor", "must be greater than 0")
    return money.amount_minor, money.currency_code


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    async def _run(self, call: Any) -> Any:
        try:
            return await call
        except domain.InventoryError as error:
            raise to_failure(error) from None

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Any
    ) -> pb.ListProductsResponse:
        limit = _page_size(request.page_size)
        after = None
        if request.page_token:
            try:
                after = pagetoken.decode(request.page_token, 2)
            except ValueError:
                raise invalid("page_token", "not a token from a previous response") from None
        if len(request.query) > 200:
            raise invalid("query", "at most 200 characters")
        active = request.active if request.HasField("active") else None
        rows = await self.inventory.list_products(
            limit=limit + 1, after=after, query=request.query.strip(), active=active
        )
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = pagetoken.encode(rows[-1]["created_at"], rows[-1]["product_id"])
        return pb.ListProductsResponse(
            products=[product_pb(r) for r in rows], next_page_token=token
        )

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Any
    ) -> pb.GetProductResponse:
        pid = _uuid_field(request.product_id, "product_id")
        row = await self._run(self.inventory.get_product(pid))
        return pb.GetProductResponse(product=product_pb(row))

    async def BatchGetProducts(
        self, request: pb.BatchGetProductsRequest, context: Any
    ) -> pb.BatchGetProductsResponse:
        require_role("service", "admin")
        if len(request.product_ids) > MAX_PAGE_SIZE:
            raise invalid("product_ids", f"at most {MAX_PAGE_SIZE} ids")
        ids = [_uuid_field(pid, f"product_ids[{i}]") for i, pid in enumerate(request.product_ids)]
        rows = {r["product_id"]: r for r in await self.inventory.get_products(ids)}
        return pb.BatchGetProductsResponse(
            products=[product_pb(rows[pid]) for pid in ids if pid in rows],
            missing_product_ids=[pid for pid in ids if pid not in rows],
        )

    async def CreateProduct(
        self, request: pb.CreateProductRequest, context: Any
    ) -> pb.CreateProductResponse:
        principal = require_role("admin")
        violations = Violations()
        sku = request.sku.strip()
        if not sku or len(sku) > 64:
            violations.add("sku", "required, at most 64 characters")
        if not request.name.strip() or len(request.name) > 200:
            violations.add("name", "required, at most 200 characters")
        if len(request.description) > 4000:
            violations.add("description", "at most 4000 characters")
        price_minor, currency = _price(request.price, "price", violations)
        if not 0 <= request.initial_stock <= 1_000_000:
            violations.add("initial_stock", "must be between 0 and 1000000")
        violations.raise_if_any()
        values = {
            "sku": sku,
            "name": request.name.strip(),
            "description": request.description,
            "price_minor": price_minor,
            "currency": currency,
            "active": request.active if request.HasField("active") else True,
        }
        row = await self._run(
            self.inventory.create_product(values, request.initial_stock, principal.subject)
        )
        return pb.CreateProductResponse(product=product_pb(row))

    async def UpdateProduct(
        self, request: pb.UpdateProductRequest, context: Any
    ) -> pb.UpdateProductResponse:
        require_role("admin")
        pid = _uuid_field(request.product_id, "product_id")
        violations = Violations()
        changes: dict[str, Any] = {}
        if request.HasField("name"):
            if not request.name.strip() or len(request.name) > 200:
                violations.add("name", "required, at most 200 characters")
            changes["name"] = request.name.strip()
        if request.HasField("description"):
            changes["description"] = request.description
        if request.HasField("price"):
            changes["price_minor"], changes["currency"] = _price(request.price, "price", violations)
        if request.HasField("active"):
            changes["active"] = request.active
        violations.raise_if_any()
        row = await self._run(self.inventory.update_product(pid, changes))
        return pb.UpdateProductResponse(product=product_pb(row))

    async def GetStock(self, request: pb.GetStockRequest, context: Any) -> pb.GetStockResponse:
        pid = _uuid_field(request.product_id, "product_id")
        row = await self._run(self.inventory.get_stock(pid))
        return pb.GetStockResponse(stock=stock_pb(row))

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Any
    ) -> pb.AdjustStockResponse:
        principal = require_role("admin")
        violations = Violations()
        if not domain.is_uuid(request.product_id.lower()):
            violations.add("product_id", "must be a UUID")
        if request.delta == 0 or abs(request.delta) > 1_000_000:
            violations.add("delta", "must be non-zero, at most 1000000 in size")
        if not request.reason.strip() or len(request.reason) > 500:
            violations.add("reason", "required, at most 500 characters")
        violations.raise_if_any()
        row, movement_id = await self._run(
            self.inventory.adjust_stock(
                request.product_id.lower(), request.delta, request.reason.strip(), principal.subject
            )
        )
        return pb.AdjustStockResponse(
            stock=stock_pb(row), movement=pb.Movement(movement_id=movement_id)
        )

    async def ListMovements(
        self, request: pb.ListMovementsRequest, context: Any
    ) -> pb.ListMovementsResponse:
        require_role("admin")
        pid = _uuid_field(request.product_id, "product_id")
        limit = _page_size(request.page_size)
        before = None
        if request.page_token:
            try:
                before = int(pagetoken.decode(request.page_token, 1)[0])
            except (ValueError, TypeError):
                raise invalid("page_token", "not a token from a previous response") from None
        rows = await self._run(
            self.inventory.list_movements(pid, limit=limit + 1, before_id=before)
        )
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = pagetoken.encode(rows[-1]["movement_id"])
        return pb.ListMovementsResponse(
            movements=[
                pb.Movement(
                    movement_id=r["movement_id"],
                    product_id=r["product_id"],
                    kind=pb.MovementKind.Value(f"MOVEMENT_KIND_{r['kind']}"),  # type: ignore[arg-type]
                    on_hand_delta=r["on_hand_delta"],
                    reserved_delta=r["reserved_delta"],
                    reason=r["reason"],
                    order_id=r["order_id"] or "",
                    actor=r["actor"],
                    create_time=_ts(r["created_at"]),
                )
                for r in rows
            ],
            next_page_token=token,
        )

    async def ReserveStock(
        self, request: pb.ReserveStockRequest, context: Any
    ) -> pb.ReserveStockResponse:
        principal = require_role("service", "admin")
        order_id = _uuid_field(request.order_id, "order_id")
        items = [domain.Item(i.product_id, i.quantity) for i in request.items]
        violations = Violations()
        for field, why in domain.validate_items(items):
            violations.add(field, why)
        if not 0 <= request.ttl_seconds <= 86_400:
            violations.add("ttl_seconds", "must be between 0 and 86400")
        violations.raise_if_any()
        row = await self._run(
            self.inventory.reserve(order_id, items, request.ttl_seconds or None, principal.subject)
        )
        return pb.ReserveStockResponse(reservation=reservation_pb(row))

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Any
    ) -> pb.ReleaseReservationResponse:
        principal = require_role("service", "admin")
        order_id = _uuid_field(request.order_id, "order_id")
        row = await self._run(self.inventory.release(order_id, request.reason, principal.subject))
        return pb.ReleaseReservationResponse(reservation=reservation_pb(row))

    async def CommitReservation(
        self, request: pb.CommitReservationRequest, context: Any
    ) -> pb.CommitReservationResponse:
        principal = require_role("service", "admin")
        order_id = _uuid_field(request.order_id, "order_id")
        row = await self._run(self.inventory.commit(order_id, principal.subject))
        return pb.CommitReservationResponse(reservation=reservation_pb(row))

    async def RestockReservation(
        self, request: pb.RestockReservationRequest, context: Any
    ) -> pb.RestockReservationResponse:
        principal = require_role("service", "admin")
        order_id = _uuid_field(request.order_id, "order_id")
        row = await self._run(self.inventory.restock(order_id, request.reason, principal.subject))
        return pb.RestockReservationResponse(reservation=reservation_pb(row))

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Any
    ) -> pb.GetReservationResponse:
        require_role("service", "admin")
        order_id = _uuid_field(request.order_id, "order_id")
        row = await self._run(self.inventory.get_reservation(order_id))
        return pb.GetReservationResponse(reservation=reservation_pb(row))
