"""Prices and names from inventory's catalog: one batched call, briefly cached per process."""

from __future__ import annotations

import time
from collections.abc import Sequence

import grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from orchestrator.domain import CatalogUnavailable, Product
from svckit.clients import ServiceToken

# Statuses after which a later retry may succeed; anything else is a bug to surface.
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED, grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}


class Catalog:
    """Product lookups; an entry (or its absence) is trusted for `ttl` seconds."""

    def __init__(self, channel: grpc.aio.Channel, token: ServiceToken, *, ttl: float,
                 timeout: float = 2.0) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        self._token = token
        self._ttl = ttl
        self._timeout = timeout
        self._cache: dict[str, tuple[float, Product | None]] = {}

    async def products(self, ids: Sequence[str]) -> dict[str, Product]:
        """The products among `ids` that exist (active or not)."""
        now = time.monotonic()
        found: dict[str, Product] = {}
        wanted: list[str] = []
        for product_id in ids:
            hit = self._cache.get(product_id)
            if hit is not None and hit[0] > now:
                if hit[1] is not None:
                    found[product_id] = hit[1]
            else:
                wanted.append(product_id)
        if wanted:
            fetched = await self._fetch(wanted)
            expires = time.monotonic() + self._ttl
            for product_id in wanted:
                product = fetched.get(product_id)
                if self._ttl > 0:
                    self._cache[product_id] = (expires, product)
                if product is not None:
                    found[product_id] = product
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return found

    async def _fetch(self, ids: list[str]) -> dict[str, Product]:
        try:
            reply = await self._stub.BatchGetProducts(
                inventory_pb2.BatchGetProductsRequest(product_ids=ids),
                metadata=self._token.metadata(), timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _RETRYABLE:
                raise CatalogUnavailable(f"catalog: {exc.code().name}") from exc
            raise
        return {
            p.product_id: Product(p.product_id, p.sku, p.name, p.price.amount_minor,
                                  p.price.currency_code, p.active)
            for p in reply.products
        }
