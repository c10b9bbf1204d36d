"""Upstream services from their descriptors: every google.api.http rule becomes a Route."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pool, message, message_factory

from gateway.templates import PathTemplate, parse

log = logging.getLogger(__name__)

_VERBS = ("get", "put", "post", "delete", "patch")


class DescriptorError(Exception):
    """Raised when a configured service or its annotations cannot be turned into routes."""


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    http_method: str
    template: PathTemplate
    body: str  # "" (no body), "*" (whole request) or a top-level field name
    response_body: str
    service: str
    method: descriptor.MethodDescriptor
    target: str
    request_class: type[message.Message]
    response_class: type[message.Message]

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    def describe(self) -> str:
        return f"{self.http_method} {self.template.text}"


def find_service(name: str, modules: Iterable[str] = ()) -> descriptor.ServiceDescriptor:
    """The service's descriptor, importing the `*_pb2` modules of its package if needed."""
    for module in modules:
        importlib.import_module(module)
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(name)
    except KeyError:
        pass
    package = name.rpartition(".")[0]
    try:
        pkg = importlib.import_module(package)
    except ImportError as exc:
        raise DescriptorError(f"no generated module for {name}: cannot import {package}") from exc
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{info.name}")
    try:
        return pool.FindServiceByName(name)
    except KeyError:
        raise DescriptorError(f"service {name} is not defined in package {package}") from None


def routes_of(service: descriptor.ServiceDescriptor, target: str) -> list[Route]:
    routes: list[Route] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        if method.client_streaming:
            log.warning("client-streaming RPC has no HTTP binding", extra={"rpc": method.full_name})
            continue
        rule = options.Extensions[annotations_pb2.http]
        for binding in [rule, *rule.additional_bindings]:
            routes.append(_route(binding, service, method, target))
    return routes


def _route(
    rule: http_pb2.HttpRule,
    service: descriptor.ServiceDescriptor,
    method: descriptor.MethodDescriptor,
    target: str,
) -> Route:
    pattern = rule.WhichOneof("pattern")
    if pattern in _VERBS:
        verb, text = pattern.upper(), getattr(rule, pattern)
    elif pattern == "custom":
        verb, text = rule.custom.kind.upper(), rule.custom.path
    else:
        raise DescriptorError(f"{method.full_name}: http rule without a pattern")
    template = parse(text)
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    for variable in template.variables:
        _field_path(method.input_type, variable, method.full_name)
    if rule.body not in ("", "*"):
        field = method.input_type.fields_by_name.get(rule.body)
        if field is None:
            raise DescriptorError(f"{method.full_name}: body field {rule.body!r} does not exist")
    if rule.response_body and rule.response_body not in method.output_type.fields_by_name:
        raise DescriptorError(f"{method.full_name}: response_body {rule.response_body!r} unknown")
    return Route(
        http_method=verb,
        template=template,
        body=rule.body,
        response_body=rule.response_body,
        service=service.full_name,
        method=method,
        target=target,
        request_class=request_class,
        response_class=response_class,
    )


def _field_path(
    message_type: descriptor.Descriptor, path: str, rpc: str
) -> list[descriptor.FieldDescriptor]:
    fields: list[descriptor.FieldDescriptor] = []
    current: descriptor.Descriptor | None = message_type
    for name in path.split("."):
        field = current.fields_by_name.get(name) if current is not None else None
        if field is None:
            raise DescriptorError(f"{rpc}: path variable {path!r} names no field")
        fields.append(field)
        current = field.message_type
    if fields[-1].is_repeated or fields[-1].message_type:
        raise DescriptorError(f"{rpc}: path variable {path!r} must be a scalar field")
    return fields


def build_routes(upstreams: dict[str, str], modules: Iterable[str] = ()) -> list[Route]:
    """Routes of every configured service, most specific first; duplicates fail loudly."""
    modules = list(modules)
    routes: list[Route] = []
    for name, target in upstreams.items():
        routes.extend(routes_of(find_service(name, modules), target))
    seen: dict[tuple[str, str], Route] = {}
    for route in routes:
        key = (route.http_method, route.template.regex.pattern)
        if key in seen:
            raise DescriptorError(
                f"{route.describe()} is bound twice ({seen[key].method.full_name}, "
                f"{route.method.full_name})"
            )
        seen[key] = route
    return sort_routes(routes)


def sort_routes(routes: list[Route]) -> list[Route]:
    # A custom verb or more literal segments wins: `/orders/{id}:watch` before `/orders/{id}`.
    return sorted(
        routes, key=lambda r: (not r.template.verb, -r.template.literal_segments, r.template.text)
    )
