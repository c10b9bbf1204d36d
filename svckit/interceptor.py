"""The one server interceptor: request id, authentication, metrics, logs and error mapping."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import grpc
import psycopg
import psycopg.errors
import psycopg_pool

from svckit import auth, logs
from svckit.metrics import RPC_HANDLED, RPC_SECONDS
from svckit.rpcerrors import RpcFailure

log = logging.getLogger(__name__)

# Infrastructure services answer without a token (health probes, grpcurl/ghz discovery).
ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# Deadlock or serialization failure: the transaction was rolled back, the database is fine.
_CONFLICT_ERRORS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
# Failures of our own dependencies, mapped once here: the caller may retry them.
_UNAVAILABLE_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout, ConnectionError)


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every handler so the same rules hold for unary and streaming calls."""

    def __init__(self, secret: str, public_methods: Collection[str] = ()) -> None:
        self._secret = secret
        self._public = frozenset(public_methods)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(ALWAYS_PUBLIC_PREFIXES):
            return handler
        public = method in self._public
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, public),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, public),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _enter(self, context: grpc.aio.ServicerContext, public: bool) -> None:
        metadata = dict(context.invocation_metadata() or ())
        rid = metadata.get("x-request-id") or uuid.uuid4().hex
        logs.request_id.set(rid)
        logs.order_id.set(None)
        auth.current_principal.set(None)
        token_header = metadata.get("authorization")
        try:
            principal = auth.verify_access_token(self._secret, auth.bearer(token_header))
        except auth.TokenError as exc:
            if public and not token_header:
                return
            raise RpcFailure(
                grpc.StatusCode.UNAUTHENTICATED, str(exc), reason="UNAUTHENTICATED"
            ) from None
        auth.current_principal.set(principal)

    def _wrap_unary(
        self, behavior: Callable[..., Awaitable[Any]], method: str, public: bool
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                self._enter(context, public)
                return await behavior(request, context)
            except BaseException as exc:
                failure = _failure_for(exc, method)
                code = failure.code
                await context.abort_with_status(failure.to_status())
            finally:
                _record(method, code, started, context)

        return wrapper

    def _wrap_stream(
        self, behavior: Callable[..., AsyncIterator[Any]], method: str, public: bool
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                self._enter(context, public)
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                failure = _failure_for(exc, method)
                code = failure.code
                await context.abort_with_status(failure.to_status())
            finally:
                _record(method, code, started, context)

        return wrapper


def _failure_for(exc: BaseException, method: str) -> RpcFailure:
    """The failure to answer for `exc`; re-raises what is not ours (aborts, cancellation)."""
    if isinstance(exc, RpcFailure):
        failure = exc
    elif isinstance(exc, _CONFLICT_ERRORS):
        # Lost a race inside PostgreSQL: retrying the same call succeeds, and the service is
        # healthy (ABORTED, not UNAVAILABLE, so callers' circuit breakers do not count it).
        log.warning("transaction aborted by a concurrent one", extra={"method": method})
        failure = RpcFailure(
            grpc.StatusCode.ABORTED,
            "the call conflicted with a concurrent one, retry it",
            reason="CONCURRENT_UPDATE",
            retry_after=0.05,
        )
    elif isinstance(exc, _UNAVAILABLE_ERRORS):
        log.warning("dependency unavailable", extra={"method": method, "error": str(exc)})
        failure = RpcFailure(
            grpc.StatusCode.UNAVAILABLE,
            "a dependency of this service is unavailable, retry later",
            reason="DEPENDENCY_UNAVAILABLE",
            retry_after=1.0,
        )
    elif isinstance(exc, Exception) and not _is_abort(exc):
        log.exception("unhandled error", extra={"method": method})
        failure = RpcFailure(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL")
    else:
        raise exc
    if failure.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        log.info(
            "rpc failed",
            extra={"method": method, "code": failure.code.name, "reason": failure.reason},
        )
    return failure


def _is_abort(exc: BaseException) -> bool:
    return type(exc).__name__ in ("AbortError", "InternalError", "UsageError")


def _record(method: str, code: grpc.StatusCode, started: float, context: Any) -> None:
    service, _, name = method.lstrip("/").rpartition("/")
    code_name = code.name
    try:
        actual = context.code()
        if actual is not None and code is grpc.StatusCode.OK:
            code_name = actual.name
    except Exception:
        pass
    RPC_HANDLED.labels(service, name, code_name).inc()
    RPC_SECONDS.labels(service, name).observe(time.perf_counter() - started)
