"""Jinja2 rendering of the notification templates: HTML autoescaped, missing variables fail."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from notify_svc.domain import InvalidRequest, Rendered, resolve_locale

TEMPLATE_DIR = Path(__file__).parent / "templates"
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


class Renderer:
    """Renders `<locale>/<template>.{subject.txt,txt,html,sms.txt}` from the templates folder."""

    def __init__(self, folder: Path = TEMPLATE_DIR) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def render(self, template: str, locale: str, context: dict[str, object]) -> Rendered:
        """The four parts in the resolved locale; InvalidRequest names a missing variable."""
        effective = resolve_locale(locale)
        base = f"{effective}/{template.lower()}"
        try:
            subject = self._env.get_template(f"{base}.subject.txt").render(context)
            text = self._env.get_template(f"{base}.txt").render(context)
            html = self._env.get_template(f"{base}.html").render(context)
            sms = self._env.get_template(f"{base}.sms.txt").render(context)
        except jinja2.UndefinedError as exc:
            match = _UNDEFINED_NAME.search(str(exc))
            name = next((g for g in match.groups() if g), "") if match else ""
            raise InvalidRequest(
                [(f"variables.{name}" if name else "variables",
                  f"required by template {template}: {exc}")]
            ) from None
        # A subject is one header line: collapse whatever whitespace a variable brought in.
        return Rendered(effective, " ".join(subject.split()), text, html, " ".join(sms.split()))
