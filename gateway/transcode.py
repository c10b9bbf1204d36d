"""HTTP request → request message (path, body, query) and response message → proto3 JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import descriptor, json_format, message, message_factory

from gateway.descriptors import Route
from gateway.errors import bad_request

FD = descriptor.FieldDescriptor
_INT32 = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
_UINT32 = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
_INT64 = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
_UINT64 = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
_RANGES = {
    **dict.fromkeys(_INT32, (-(2**31), 2**31 - 1)),
    **dict.fromkeys(_UINT32, (0, 2**32 - 1)),
    **dict.fromkeys(_INT64, (-(2**63), 2**63 - 1)),
    **dict.fromkeys(_UINT64, (0, 2**64 - 1)),
}
# Strings may not carry NUL, other C0 controls or bidi overrides (text spoofing).
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_DIGITS = re.compile(r"^-?[0-9]+$")


def _is_well_known(message_type: descriptor.Descriptor) -> bool:
    return message_type.full_name.startswith("google.protobuf.")


def _field_by_key(message_type: descriptor.Descriptor, key: str) -> FD | None:
    field = message_type.fields_by_name.get(key)
    if field is not None:
        return field
    for candidate in message_type.fields:
        if candidate.json_name == key:
            return candidate
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_message(value: Any, message_type: descriptor.Descriptor, path: str) -> None:
    """Strict shape check of JSON for `message_type`, naming the first offending field."""
    if _is_well_known(message_type):
        # Timestamp, Duration, wrappers, Struct...: json_format knows their JSON forms.
        _parse_into(value, message_factory.GetMessageClass(message_type)(), path)
        return
    if not isinstance(value, dict):
        raise bad_request(path or "body", "must be a JSON object")
    seen: dict[str, str] = {}
    for key, item in value.items():
        field = _field_by_key(message_type, key)
        if field is None:
            raise bad_request(_join(path, key), "unknown field", "UNKNOWN_FIELD")
        if field.name in seen:
            raise bad_request(
                _join(path, field.name), f"set twice (as {seen[field.name]!r} and {key!r})"
            )
        seen[field.name] = key
        if item is not None:
            check_field(item, field, _join(path, field.name))


def check_field(value: Any, field: FD, path: str) -> None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise bad_request(path, "must be a JSON object (a map)")
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            check_single(item, value_field, f"{path}[{key!r}]")
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise bad_request(path, "must be a JSON array")
        for index, item in enumerate(value):
            check_single(item, field, f"{path}[{index}]")
        return
    check_single(value, field, path)


def check_single(value: Any, field: FD, path: str) -> None:
    kind = field.type
    if field.message_type is not None:
        if value is not None:
            check_message(value, field.message_type, path)
    elif kind in _RANGES:
        low, high = _RANGES[kind]
        if isinstance(value, str) and kind in (_INT64 | _UINT64) and _DIGITS.match(value):
            number = int(value)  # 64-bit integers travel as strings in proto3 JSON
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise bad_request(path, f"must be an integer, got {_json_kind(value)}")
        if not low <= number <= high:
            raise bad_request(path, f"must be between {low} and {high}")
    elif kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(path, f"must be a number, got {_json_kind(value)}")
    elif kind == FD.TYPE_BOOL:
        if not isinstance(value, bool):
            raise bad_request(path, f"must be true or false, got {_json_kind(value)}")
    elif kind == FD.TYPE_STRING:
        if not isinstance(value, str):
            raise bad_request(path, f"must be a string, got {_json_kind(value)}")
        if FORBIDDEN_CHARS.search(value):
            raise bad_request(path, "contains a control or bidirectional-override character")
    elif kind == FD.TYPE_BYTES:
        if not isinstance(value, str):
            raise bad_request(path, f"must be a base64 string, got {_json_kind(value)}")
    elif kind == FD.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        if isinstance(value, str):
            if value not in enum.values_by_name:
                allowed = ", ".join(v.name for v in enum.values)
                raise bad_request(path, f"unknown value {value!r}; one of {allowed}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(path, f"must be an enum name, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _parse_into(data: Any, target: message.Message, path: str) -> None:
    try:
        json_format.ParseDict(data, target, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise bad_request(path or "body", str(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise bad_request(path or "body", f"cannot be converted: {exc}") from None


def _resolve(message_type: descriptor.Descriptor, dotted: str) -> list[FD] | None:
    fields: list[FD] = []
    current: descriptor.Descriptor | None = message_type
    for part in dotted.split("."):
        field = _field_by_key(current, part) if current is not None else None
        if field is None:
            return None
        fields.append(field)
        current = field.message_type if not field.is_repeated else None
    return fields


def _assign(target: message.Message, fields: list[FD], value: Any, name: str) -> None:
    """Sets one (possibly nested) field from its JSON value; repeated values are appended."""
    parent = target
    for field in fields[:-1]:
        parent = getattr(parent, field.name)
    leaf = fields[-1]
    scratch = type(parent)()
    _parse_into({leaf.name: value}, scratch, name)
    if leaf.is_repeated:
        getattr(parent, leaf.name).extend(getattr(scratch, leaf.name))
    elif leaf.message_type is not None:
        getattr(parent, leaf.name).CopyFrom(getattr(scratch, leaf.name))
    else:
        setattr(parent, leaf.name, getattr(scratch, leaf.name))


def _query_value(raw: str, field: FD, name: str) -> Any:
    if field.type == FD.TYPE_BOOL:
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad_request(name, "must be true or false")
    if field.message_type is not None and not _is_well_known(field.message_type):
        raise bad_request(name, "a message field cannot be set from the query string")
    if field.type in _RANGES and not _DIGITS.match(raw):
        raise bad_request(name, "must be an integer")
    if field.type == FD.TYPE_STRING and FORBIDDEN_CHARS.search(raw):
        raise bad_request(name, "contains a control or bidirectional-override character")
    if field.type in _RANGES:
        low, high = _RANGES[field.type]
        if not low <= int(raw) <= high:
            raise bad_request(name, f"must be between {low} and {high}")
    return raw


def build_request(
    route: Route,
    path_values: Mapping[str, str],
    body: Any,
    query: Sequence[tuple[str, str]],
) -> message.Message:
    """The request message: body first, then path variables (they win), then the query string."""
    request = route.request_class()
    message_type = route.method.input_type
    if route.body == "*":
        check_message(body if body is not None else {}, message_type, "")
        _parse_into(body or {}, request, "")
    elif route.body and body is not None:
        field = message_type.fields_by_name[route.body]
        check_field(body, field, field.name)
        _assign(request, [field], body, field.name)
    for dotted, raw in path_values.items():
        fields = _resolve(message_type, dotted)
        assert fields is not None  # checked when the route was built
        _assign(request, fields, _query_value(raw, fields[-1], dotted), dotted)
    _apply_query(route, request, query, set(path_values))
    return request


def _apply_query(
    route: Route, request: message.Message, query: Sequence[tuple[str, str]], bound: set[str]
) -> None:
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        fields = None if route.body == "*" else _resolve(route.method.input_type, key)
        if fields is None:
            raise bad_request(key, "unknown query parameter", "UNKNOWN_FIELD")
        canonical = ".".join(f.name for f in fields)
        if canonical in bound or (route.body and fields[0].name == route.body):
            raise bad_request(key, "is bound by the path or body and cannot be in the query")
        leaf = fields[-1]
        if not leaf.is_repeated and len(values) > 1:
            raise bad_request(key, "given more than once")
        converted = [_query_value(v, leaf, key) for v in values]
        _assign(request, fields, converted if leaf.is_repeated else converted[0], key)


def to_json(response: message.Message, route: Route) -> Any:
    """Proto3 JSON, lowerCamelCase, unpopulated fields included (grpc-gateway's default)."""
    data = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
    if route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return data.get(field.json_name)
    return data
