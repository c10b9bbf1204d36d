"""Settings read once from the environment, failing loudly with the key's name."""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Mapping

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ConfigError(Exception):
    """Raised when an environment variable is missing or cannot be parsed."""


def parse_duration(text: str) -> float:
    """Seconds in '250ms', '30s', '15m', '24h', '7d' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 250ms, 30s, 15m, 24h, 7d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Env:
    """Typed reads of an environment mapping; every error names the variable."""

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, key: builtins.str) -> builtins.str | None:
        value = self._environ.get(key)
        return value if value not in (None, "") else None

    def str(self, key: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self.get(key)
        if value is None:
            if default is None:
                raise ConfigError(f"environment variable {key} is required")
            return default
        return value

    def first(self, keys: list[builtins.str], default: builtins.str | None = None) -> builtins.str:
        """The value of the first key that is set (service-specific before shared)."""
        for key in keys:
            value = self.get(key)
            if value is not None:
                return value
        if default is None:
            raise ConfigError(f"environment variable {' or '.join(keys)} is required")
        return default

    def int(self, key: builtins.str, default: int) -> int:
        value = self.get(key)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not an integer") from None

    def float(self, key: builtins.str, default: builtins.float) -> builtins.float:
        value = self.get(key)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not a number") from None

    def bool(self, key: builtins.str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={value!r} is not a boolean (use true or false)")

    def duration(self, key: builtins.str, default: builtins.str) -> builtins.float:
        value = self.get(key) or default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None

    def list(self, key: builtins.str, default: builtins.str = "") -> list[builtins.str]:
        value = self.get(key) or default
        return [part.strip() for part in value.split(",") if part.strip()]
