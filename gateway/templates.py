"""google.api.http path templates: parsing, matching a request path, OpenAPI spelling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


class TemplateError(ValueError):
    """Raised when a google.api.http path template does not follow the grammar."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=@%-]+$")


@dataclass(frozen=True)
class PathTemplate:
    """A compiled template: its variables (field paths) in order and the regex matching it."""

    text: str
    variables: tuple[str, ...]
    verb: str
    literal_segments: int
    regex: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        """Field path → percent-decoded value, or None when `path` (raw, undecoded) differs."""
        found = self.regex.match(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, field in enumerate(self.variables):
            raw = found.group(f"v{index}")
            # Single-segment values decode everything; multi-segment ones keep their slashes.
            values[field] = unquote(raw)
        return values

    def openapi_path(self) -> str:
        """`/v1/{name=shelves/*}:do` → `/v1/{name}:do`, `{a.b}` → `{a_b}` (OpenAPI tools
        take a dot in a parameter name for attribute access)."""
        return re.sub(
            r"\{([^}=]+)(=[^}]*)?\}", lambda m: "{" + openapi_name(m.group(1)) + "}", self.text
        )


def openapi_name(field_path: str) -> str:
    """The OpenAPI name of a path variable bound to `field_path`."""
    return field_path.replace(".", "_")


def parse(text: str) -> PathTemplate:
    if not text.startswith("/"):
        raise TemplateError(f"template {text!r} must start with '/'")
    body, verb = _split_verb(text[1:])
    variables: list[str] = []
    pattern_parts: list[str] = []
    literals = 0
    for segment in _split_segments(body, text):
        if segment.startswith("{"):
            inner = segment[1:-1]
            field, _, sub = inner.partition("=")
            if not _IDENT.match(field):
                raise TemplateError(f"bad variable {segment!r} in {text!r}")
            sub_regex = _segments_regex(sub.split("/") if sub else ["*"], text)
            pattern_parts.append(f"(?P<v{len(variables)}>{sub_regex})")
            variables.append(field)
        else:
            pattern_parts.append(_segment_regex(segment, text))
            literals += segment not in ("*", "**")
    regex = "^/" + "/".join(pattern_parts) + (re.escape(":" + verb) if verb else "") + "$"
    return PathTemplate(text, tuple(variables), verb, literals, re.compile(regex))


def _split_verb(body: str) -> tuple[str, str]:
    """The verb is a ':' after the last '/' and outside any '{...}'."""
    depth = 0
    last_colon = -1
    for index, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            last_colon = -1
        elif char == ":" and depth == 0:
            last_colon = index
    if last_colon < 0:
        return body, ""
    return body[:last_colon], body[last_colon + 1 :]


def _split_segments(body: str, text: str) -> list[str]:
    segments: list[str] = []
    current = ""
    depth = 0
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "/" and depth == 0:
            segments.append(current)
            current = ""
        else:
            current += char
    segments.append(current)
    if depth != 0 or any(not s for s in segments):
        raise TemplateError(f"malformed template {text!r}")
    return segments


def _segment_regex(segment: str, text: str) -> str:
    if segment == "*":
        return "[^/]+"
    if segment == "**":
        return ".+"
    if not _LITERAL.match(segment):
        raise TemplateError(f"bad literal {segment!r} in {text!r}")
    return re.escape(segment)


def _segments_regex(segments: list[str], text: str) -> str:
    return "/".join(_segment_regex(s, text) for s in segments)
