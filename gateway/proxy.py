"""One transcoded call: HTTP request → gRPC request → HTTP answer (JSON, NDJSON or SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway import headers as hdr
from gateway.descriptors import Route
from gateway.errors import status_of_rpc_error, status_response, status_to_dict
from gateway.jsonbody import read_json
from gateway.transcode import build_request, to_json
from gateway.upstreams import Upstreams

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


class Proxy:
    """Handles every descriptor route with the same code."""

    def __init__(self, upstreams: Upstreams, body_limit: int, timeout: float) -> None:
        self.upstreams = upstreams
        self.body_limit = body_limit
        self.timeout = timeout

    def handler_for(self, route: Route) -> Any:
        async def handle(request: Request, path_values: dict[str, str]) -> Response:
            return await self.call(route, request, path_values)

        return handle

    async def call(self, route: Route, request: Request, path_values: dict[str, str]) -> Response:
        headers = request.headers
        hdr.check_authorization(headers)
        body = await read_json(request, self.body_limit, required=False) if route.body else None
        message_in = build_request(route, path_values, body, request.query_params.multi_items())
        metadata = hdr.outgoing_metadata(headers, request.state.request_id, request.state.client_ip)
        if route.server_streaming:
            timeout = hdr.timeout_of(headers, None)
            return await self._stream(
                route, message_in, metadata, timeout, headers.get("accept", "")
            )
        timeout = hdr.timeout_of(headers, self.timeout)
        try:
            result = await self.upstreams.unary(route, message_in, metadata, timeout)
        except grpc.aio.AioRpcError as exc:
            return status_response(status_of_rpc_error(exc))
        code, extra = hdr.response_shape(result.metadata)
        return JSONResponse(to_json(result.response, route), status_code=code or 200, headers=extra)

    async def _stream(
        self,
        route: Route,
        message_in: message.Message,
        metadata: list[tuple[str, str]],
        deadline: float | None,
        accept: str,
    ) -> Response:
        call = self.upstreams.stream(route, message_in, metadata, deadline)
        items = call.__aiter__()
        # Wait for the first message so an immediate failure is a proper HTTP error answer.
        first: message.Message | None
        try:
            first = await items.__anext__()
        except StopAsyncIteration:
            first = None
        except grpc.aio.AioRpcError as exc:
            return status_response(status_of_rpc_error(exc))
        sse = SSE in accept.lower()
        encode = _sse if sse else _ndjson

        async def body() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield encode("message", to_json(first, route))
                    async for item in items:
                        yield encode("message", to_json(item, route))
            except grpc.aio.AioRpcError as exc:
                yield encode("error", status_to_dict(status_of_rpc_error(exc)))
            finally:
                call.cancel()

        return StreamingResponse(
            body(),
            media_type=SSE if sse else NDJSON,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _ndjson(kind: str, data: Any) -> bytes:
    # grpc-gateway's stream framing: {"result": ...} per message, {"error": ...} to end badly.
    key = "result" if kind == "message" else "error"
    return json.dumps({key: data}, ensure_ascii=False).encode() + b"\n"


def _sse(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
