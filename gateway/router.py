"""Method + path → endpoint, with grpc-gateway's 404/405 distinction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.templates import PathTemplate, parse

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: PathTemplate
    handler: Handler
    bucket: str | None  # rate-limit bucket; None for ops endpoints

    @property
    def label(self) -> str:
        return self.template.text


class Router:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def add(
        self,
        method: str,
        template: str | PathTemplate,
        handler: Handler,
        bucket: str | None = "default",
    ) -> None:
        compiled = parse(template) if isinstance(template, str) else template
        for existing in self.endpoints:
            if (
                existing.method == method
                and existing.template.regex.pattern == compiled.regex.pattern
            ):
                raise ValueError(f"{method} {compiled.text} is bound twice")
        self.endpoints.append(Endpoint(method, compiled, handler, bucket))
        # A custom verb or more literal segments wins: `/orders/{id}:watch` before `/orders/{id}`.
        self.endpoints.sort(key=lambda e: (not e.template.verb, -e.template.literal_segments))

    def resolve(self, method: str, raw_path: str) -> tuple[Endpoint, dict[str, str]]:
        allowed: list[str] = []
        lookup = "GET" if method == "HEAD" else method
        for endpoint in self.endpoints:
            values = endpoint.template.match(raw_path)
            if values is None:
                continue
            if endpoint.method == lookup:
                return endpoint, values
            allowed.append(endpoint.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise GatewayError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"method {method} is not allowed on {raw_path}; allowed: {allow}",
                reason="METHOD_NOT_ALLOWED",
                http_status=405,
                headers={"Allow": allow},
            )
        raise GatewayError(
            grpc.StatusCode.NOT_FOUND, f"no route for {raw_path}", reason="ROUTE_NOT_FOUND"
        )
