"""The HTML pages' Jinja2 environment: autoescaped, strict, templates in ``bot/web/templates``.

Kept apart from the Slack templates (``templates/*.json.j2``, escaped for Block Kit): here every
``{{ value }}`` is HTML-escaped, so text a person typed in Slack (a version, a reason) shows as
text. Only ``Markup`` built by this package (the SVG charts) is inserted as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.core.trail import format_time


def subject_path(subject: str) -> str:
    """``/trail/<subject>`` with the subject quoted (a version may hold ``/``, ``?`` or ``#``)."""
    return "/trail/" + quote(subject, safe=":")


def when(at: datetime | None) -> str:
    """A time as people read it on these pages: UTC, to the second."""
    return "" if at is None else format_time(at)[:19].replace("T", " ") + " UTC"


def make_html_environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["subject_path"] = subject_path
    return environment


class HtmlPages:
    """Renders a page template with the parts every page has (who is signed in, the form
    token of the sign-out form)."""

    def __init__(self) -> None:
        self.environment = make_html_environment()

    def render(self, name: str, **context: Any) -> str:
        return self.environment.get_template(name).render(**context)
