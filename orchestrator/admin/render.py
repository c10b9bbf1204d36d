"""Output of the admin CLI: rich tables on a terminal, plain columns otherwise, JSON on demand."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from svckit.money import format_minor


def to_json(value: Any) -> Any:
    """JSON-ready copy: ids as strings, times as ISO 8601, nested dicts and lists."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def duration(seconds: float | None) -> str:
    """'45s', '3m12s', '2h05m', '3d04h'; '-' for none; negative means in the past."""
    if seconds is None:
        return "-"
    sign, s = ("-" if seconds < 0 else ""), int(abs(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


def when(moment: datetime | None) -> str:
    """'2026-11-28 06:37:14 UTC'."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return "-"
    return f"{format_minor(int(minor))} {currency or ''}".strip()


def short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


class Output:
    """Where a command writes: JSON for scripts, tables and key/value blocks for people."""

    def __init__(self, as_json: bool, stream: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.err = err or sys.stderr
        self.rich = self.stream.isatty() and not as_json
        self.console = Console(file=self.stream, highlight=False) if self.rich else None

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(to_json(data), indent=2, sort_keys=False) + "\n")

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """`data` as JSON with --json, else whatever `human` prints."""
        if self.as_json:
            self.json(data)
        else:
            human()

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is not None:
            self.console.print(text, style=style, markup=False)
        else:
            self.stream.write(text + "\n")

    def heading(self, text: str) -> None:
        self.line()
        self.line(text, style="bold")

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        items = [(k, "-" if v in (None, "") else str(v)) for k, v in pairs]
        width = max((len(k) for k, _ in items), default=0)
        for key, value in items:
            self.line(f"{key + ':':<{width + 1}} {value}")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              title: str | None = None) -> None:
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        if self.console is not None:
            table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                          pad_edge=False)
            for n, column in enumerate(columns):
                # Short cells never wrap (ids are copied into the next command); the last
                # column (errors, messages) wraps when the terminal is narrow.
                last = n == len(columns) - 1 and n > 0
                table.add_column(column, no_wrap=not last, overflow="fold" if last else "crop",
                                 min_width=16 if last else None)
            for row in cells:
                table.add_row(*row)
            self.console.print(table)
            return
        if title:
            self.line(title)
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        header = (c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
        self.line("  ".join(header).rstrip())
        for row in cells:
            self.line("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())

    def error(self, message: str) -> None:
        self.err.write(f"orchestrator: {message}\n")
