"""The gateway: routes from descriptors and auth endpoints behind one dispatcher, ops endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import grpc
import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import headers as hdr
from gateway import openapi
from gateway.auth_routes import AuthRoutes
from gateway.config import Settings
from gateway.descriptors import Route, build_routes
from gateway.errors import GatewayError, failure_response
from gateway.handlers import Identity
from gateway.metrics import HTTP_REQUESTS, HTTP_SECONDS, RATE_LIMITED
from gateway.passwords import Passwords
from gateway.proxy import Proxy
from gateway.ratelimit import RateLimiter
from gateway.router import Router
from gateway.upstreams import Upstreams
from svckit import auth, logs
from svckit.db import open_pool, ping
from svckit.rpcerrors import RpcFailure

log = logging.getLogger(__name__)

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "Grpc-Timeout"]
EXPOSED_HEADERS = ["Location", "X-Request-ID", "Idempotent-Replayed", "Retry-After"]


@dataclass
class Gateway:
    """Everything a request needs; built once per process (or per test)."""

    settings: Settings
    routes: list[Route]
    upstreams: Upstreams
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    passwords: Passwords
    router: Router = field(default_factory=Router)
    openapi_doc: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def create(cls, settings: Settings, *, passwords: Passwords | None = None) -> Gateway:
        routes = build_routes(settings.upstreams, settings.proto_modules)
        pool = await open_pool(settings.database_url, name="gateway")
        client = aioredis.from_url(
            settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        gw = cls(
            settings=settings,
            routes=routes,
            upstreams=Upstreams(
                {
                    name: target
                    for name, target in settings.upstreams.items()
                    if any(r.service == name for r in routes)
                }
            ),
            pool=pool,
            redis=client,
            passwords=passwords or Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
        )
        gw._wire()
        log.info("routes built", extra={"routes": [r.describe() for r in routes]})
        return gw

    def _wire(self) -> None:
        s = self.settings
        self.limiter = RateLimiter(
            self.redis, {"default": s.rate_limit, "login": s.login_rate_limit}
        )
        identity = Identity(self.pool, self.passwords, s.jwt_secret, s.access_ttl, s.refresh_ttl)
        for method, path, handler, bucket in AuthRoutes(identity, s.max_body_bytes).table():
            self.router.add(method, path, handler, bucket)
        proxy = Proxy(self.upstreams, s.max_body_bytes, s.upstream_timeout)
        for route in self.routes:
            self.router.add(route.http_method, route.template, proxy.handler_for(route))
        for path, handler in (
            ("/healthz", self.healthz),
            ("/readyz", self.readyz),
            ("/metrics", self.metrics),
            ("/openapi.json", self.openapi),
            ("/docs", self.docs),
        ):
            self.router.add("GET", path, handler, None)
        self.openapi_doc = openapi.document(self.routes)

    async def close(self) -> None:
        await self.upstreams.close()
        await self.redis.aclose()
        await self.pool.close()

    # -- dispatch -------------------------------------------------------------------------------

    def client_ip(self, request: Request) -> str:
        forwarded = request.headers.get("x-forwarded-for")
        if self.settings.trust_forwarded and forwarded:
            return forwarded.split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    async def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        rid = hdr.request_id(request.headers)
        logs.request_id.set(rid)
        request.state.request_id = rid
        request.state.client_ip = self.client_ip(request)
        label = "unmatched"
        try:
            endpoint, values = self.router.resolve(request.method, _raw_path(request))
            label = endpoint.label
            if endpoint.bucket:
                await self._limit(endpoint.bucket, request)
            response = await endpoint.handler(request, values)
        except RpcFailure as failure:
            response = failure_response(failure)
        except Exception:
            log.exception("unhandled error", extra={"path": request.url.path})
            response = failure_response(
                GatewayError(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL")
            )
        response.headers["X-Request-ID"] = rid
        elapsed = time.perf_counter() - started
        HTTP_REQUESTS.labels(request.method, label, str(response.status_code)).inc()
        HTTP_SECONDS.labels(request.method, label).observe(elapsed)
        if label not in ("/healthz", "/readyz", "/metrics"):
            log.info(
                "http request",
                extra={
                    "method": request.method,
                    "route": label,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "client": request.state.client_ip,
                },
            )
        return response

    async def _limit(self, bucket: str, request: Request) -> None:
        key = f"ip:{request.state.client_ip}"
        if bucket != "login":
            try:
                token = auth.bearer(request.headers.get("authorization"))
                key = f"sub:{auth.verify_access_token(self.settings.jwt_secret, token).subject}"
            except auth.TokenError:
                pass
        verdict = await self.limiter.hit(bucket, key)
        if not verdict.allowed:
            RATE_LIMITED.labels(bucket).inc()
            raise GatewayError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many requests; retry in {verdict.retry_after}s",
                reason="RATE_LIMITED",
                retry_after=float(verdict.retry_after),
                headers={"Retry-After": str(verdict.retry_after)},
            )

    # -- ops ------------------------------------------------------------------------------------

    async def healthz(self, request: Request, _: dict[str, str]) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request, _: dict[str, str]) -> Response:
        async def redis_ok() -> bool:
            try:
                return bool(await self.redis.ping())
            except Exception:
                return False

        upstream, database, cache = await asyncio.gather(
            self.upstreams.health(), ping(self.pool, timeout=1.0), redis_ok()
        )
        ready = all(v == "SERVING" for v in upstream.values()) and database and cache
        body = {
            "status": "ready" if ready else "not ready",
            "upstreams": upstream,
            "database": "ok" if database else "unreachable",
            "redis": "ok" if cache else "unreachable",
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(self, request: Request, _: dict[str, str]) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request, _: dict[str, str]) -> Response:
        return Response(json.dumps(self.openapi_doc), media_type="application/json")

    async def docs(self, request: Request, _: dict[str, str]) -> Response:
        page = resources.files("gateway").joinpath("static/docs.html").read_text("utf-8")
        return HTMLResponse(page)


def _raw_path(request: Request) -> str:
    raw: bytes | None = request.scope.get("raw_path")
    if raw:
        return raw.decode("latin-1").split("?", 1)[0]
    return request.url.path


def build_app(gw: Gateway) -> ASGIApp:
    """The dispatcher, behind CORS when origins are configured.

    No Starlette router in front: the gateway's own router answers every path (a Starlette
    `{path:path}` route misses paths with encoded newlines and answers them in plain text).
    """
    app: ASGIApp = _Dispatch(gw)
    if gw.settings.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(gw.settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    return app


class _Dispatch:
    """The ASGI application: every HTTP request goes to the gateway's dispatcher."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # resources are opened and closed by __main__
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return  # no websockets here
        response = await self.gw.dispatch(Request(scope, receive))
        await response(scope, receive, send)
