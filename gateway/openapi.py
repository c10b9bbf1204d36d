"""OpenAPI 3.1 document generated from the routes' descriptors (plus the auth endpoints)."""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor

from gateway.descriptors import Route
from gateway.openapi_auth import auth_paths, auth_schemas
from gateway.templates import openapi_name

FD = descriptor.FieldDescriptor
_SCALARS: dict[int, dict[str, Any]] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # 64-bit integers are strings in proto3 JSON output; numbers are accepted on input.
    FD.TYPE_INT64: {"type": ["string", "integer"], "format": "int64"},
    FD.TYPE_SINT64: {"type": ["string", "integer"], "format": "int64"},
    FD.TYPE_SFIXED64: {"type": ["string", "integer"], "format": "int64"},
    FD.TYPE_UINT64: {"type": ["string", "integer"], "format": "uint64"},
    FD.TYPE_FIXED64: {"type": ["string", "integer"], "format": "uint64"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"]},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"]},
    "google.protobuf.Int64Value": {"type": ["string", "integer", "null"]},
    "google.protobuf.UInt64Value": {"type": ["string", "integer", "null"]},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"]},
}
ERROR_STATUSES = {
    "400": "Invalid input (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE) or malformed JSON",
    "401": "Missing, malformed or invalid bearer token",
    "403": "Authenticated but not allowed",
    "404": "Not found (also another customer's resource)",
    "409": "Conflict (ALREADY_EXISTS, ABORTED, a request with the same key in flight)",
    "413": "Body larger than the limit",
    "415": "Body is not application/json",
    "422": "Idempotency-Key reused with a different body",
    "429": "Rate limited; see Retry-After",
    "503": "An upstream service is unavailable; retry later",
    "504": "Deadline exceeded",
}


class SchemaBuilder:
    """components/schemas from message descriptors, named by their full proto name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, message_type: descriptor.Descriptor) -> dict[str, Any]:
        if message_type.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message_type.full_name])
        name = message_type.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: recursive messages terminate
            self.schemas[name] = self._message(message_type)
        return {"$ref": f"#/components/schemas/{name}"}

    def without(self, message_type: descriptor.Descriptor, names: set[str]) -> dict[str, Any]:
        """An inline copy of the message's schema without the named (JSON) properties."""
        schema = self._message(message_type)
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in names}
        required = [n for n in schema.pop("required", []) if n not in names]
        if required:
            schema["required"] = required
        return schema

    def _message(self, message_type: descriptor.Descriptor) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message_type.fields:
            properties[field.json_name] = self.field(field)
            behaviors = _behaviors(field)
            if field_behavior_pb2.OUTPUT_ONLY in behaviors:
                properties[field.json_name]["readOnly"] = True
            if field_behavior_pb2.REQUIRED in behaviors:
                required.append(field.json_name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if message_type.GetOptions().deprecated:
            schema["deprecated"] = True
        return schema

    def field(self, field: FD) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        if field.is_repeated:
            return {"type": "array", "items": self.single(field)}
        return self.single(field)

    def single(self, field: FD) -> dict[str, Any]:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _behaviors(field: FD) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "google.rpc.Status",
        "properties": {
            "code": {"type": "integer", "description": "google.rpc.Code"},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"@type": {"type": "string"}},
                    "required": ["@type"],
                },
            },
        },
        "required": ["code", "message", "details"],
    }


def errors() -> dict[str, Any]:
    return {
        code: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
        }
        for code, text in ERROR_STATUSES.items()
    }


def _leaf_query_fields(
    message_type: descriptor.Descriptor, prefix: str, skip: set[str], depth: int = 0
) -> list[tuple[str, FD]]:
    found: list[tuple[str, FD]] = []
    for field in message_type.fields:
        name = f"{prefix}{field.name}"
        if name in skip:
            continue
        if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
            if not field.is_repeated and depth < 3:
                found += _leaf_query_fields(field.message_type, f"{name}.", skip, depth + 1)
            continue
        found.append((name, field))
    return found


def _operation(route: Route, builder: SchemaBuilder) -> dict[str, Any]:
    method = route.method
    params: list[dict[str, Any]] = []
    input_type = method.input_type
    for variable in route.template.variables:
        field = _resolve(input_type, variable)
        params.append(
            {
                "name": openapi_name(variable),
                "in": "path",
                "required": True,
                "schema": builder.single(field),
            }
        )
    if route.body != "*":
        skip = set(route.template.variables) | ({route.body} if route.body else set())
        for name, field in _leaf_query_fields(input_type, "", skip):
            params.append(
                {"name": name, "in": "query", "required": False, "schema": builder.field(field)}
            )
    operation: dict[str, Any] = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "summary": f"{method.full_name} ({'server stream' if route.server_streaming else 'unary'})",
        "tags": [method.containing_service.full_name],
        "parameters": params,
        "security": [{"bearerAuth": []}, {}],
    }
    bound = {
        input_type.fields_by_name[v].json_name for v in route.template.variables if "." not in v
    }
    if route.body == "*" and bound:
        # Like grpc-gateway's generator: fields bound by the path are not part of the body.
        builder.ref(input_type)
        body_schema = builder.without(input_type, bound)
    elif route.body == "*":
        body_schema = builder.ref(input_type)
    elif route.body:
        body_schema = builder.field(input_type.fields_by_name[route.body])
    else:
        body_schema = None
    if body_schema is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    output = builder.ref(method.output_type)
    if route.response_body:
        output = builder.field(method.output_type.fields_by_name[route.response_body])
    if route.server_streaming:
        content = {
            "application/x-ndjson": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "result": output,
                        "error": {"$ref": "#/components/schemas/Status"},
                    },
                }
            },
            "text/event-stream": {"schema": {"type": "string"}},
        }
        description = "A stream: one JSON object per line (or SSE with Accept: text/event-stream)"
    else:
        content = {"application/json": {"schema": output}}
        description = "OK (202 where the service accepts work to do later)"
    responses: dict[str, Any] = {"200": {"description": description, "content": content}}
    if not route.server_streaming:
        responses["202"] = {"description": "Accepted", "content": content}
    responses.update(errors())
    responses["default"] = {
        "description": "Any other error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
    }
    operation["responses"] = responses
    return operation


def _resolve(message_type: descriptor.Descriptor, dotted: str) -> FD:
    current: descriptor.Descriptor | None = message_type
    field: FD | None = None
    for part in dotted.split("."):
        assert current is not None  # checked when the route was built
        field = current.fields_by_name[part]
        current = field.message_type
    assert field is not None
    return field


def document(routes: list[Route], title: str = "Shop platform HTTP API") -> dict[str, Any]:
    builder = SchemaBuilder()
    paths: dict[str, Any] = auth_paths(errors())
    operation_ids: set[str] = set()
    for route in routes:
        path = paths.setdefault(route.template.openapi_path(), {})
        operation = _operation(route, builder)
        if operation["operationId"] in operation_ids:  # additional bindings of one RPC
            operation["operationId"] += f"_{route.http_method.lower()}_{len(operation_ids)}"
        operation_ids.add(operation["operationId"])
        path[route.http_method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "v1",
            "description": "Generated from the google.api.http annotations of the services.",
        },
        "paths": paths,
        "components": {
            "schemas": {**builder.schemas, "Status": _status_schema(), **auth_schemas()},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
