"""The renderer: one sandboxed Jinja2 environment per ``make_renderer`` call, no globals.

``render(name, context)`` renders ``templates/<name>.json.j2``, drops trailing commas, parses
the JSON, cuts overlong text to Slack's limits and validates the result with slack_sdk's models.
Anything wrong raises :class:`RenderError` naming the template (and the line or block).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from bot.render import escaping, limits, validation

TEMPLATE_SUFFIX = ".json.j2"
MESSAGE_TEMPLATES = (
    "readiness_checklist",
    "gate_update",
    "go_no_go_request",
    "rollback_recommendation",
    "approval_state",
    "execution_result",
    "validation_result",
    "drill_start",
    "drill_report",
    "postmortem_prompt",
)
VIEW_TEMPLATES = ("reason_modal", "app_home", "postmortem_modal")
REQUIRED_TEMPLATES = MESSAGE_TEMPLATES + VIEW_TEMPLATES

GATE_ICONS = {"open": "⏳", "passed": "✅", "failed": "❌", "waived": "➖"}
STATE_ICONS = {
    "pending": "⏳",
    "approved": "✅",
    "rejected": "⛔",
    "expired": "⌛",
    "cancelled": "🚫",
    "escalated": "📣",
    "breach": "❌",
    "clear": "✅",
    "insufficient_data": "❔",
    "succeeded": "✅",
    "failed": "❌",
    "timed_out": "⌛",
    "dry_run": "🧪",
    "recovered": "✅",
    "not_recovered": "❌",
}


class RenderError(Exception):
    """A template could not be rendered into a valid Slack message."""

    def __init__(
        self,
        template: str,
        message: str,
        *,
        line: int | None = None,
        block_index: int | None = None,
    ) -> None:
        where = f"template {template!r}" + (f" line {line}" if line else "")
        super().__init__(f"{where}: {message}")
        self.template = template
        self.line = line
        self.block_index = block_index
        self.detail = message


class UnknownTemplateError(RenderError):
    def __init__(self, template: str, available: list[str]) -> None:
        listed = ", ".join(available) or "none"
        super().__init__(template, f"no such template; available: {listed}")
        self.available = available


def make_environment(templates_dir: Path, public_url: str | None = None) -> SandboxedEnvironment:
    """The sandboxed environment: strict, escaping every ``{{ }}`` for Slack and JSON.

    ``page_url(subject)`` is the subject's web page under ``public_url``
    (``RELEASEBOT_PUBLIC_URL``), or ``""`` without one: "View in browser" only where there are
    pages; ``site_url(path)`` likewise for a page such as ``/report``."""
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        autoescape=False,  # escaping is done by ``finalize``, for Slack and JSON, not HTML
        finalize=escaping.finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters.update(escaping.FILTERS)
    environment.globals.update(gate_icons=GATE_ICONS, state_icons=STATE_ICONS)
    environment.globals["page_url"] = lambda subject: (
        f"{public_url}/trail/{quote(str(subject), safe=':')}" if public_url else ""
    )
    environment.globals["site_url"] = lambda path: f"{public_url}{path}" if public_url else ""
    return environment


def _template_line(traceback: TracebackType | None, filename: str) -> int | None:
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


class Renderer:
    """Renders templates by name; build it with :func:`make_renderer`."""

    def __init__(self, environment: SandboxedEnvironment, templates_dir: Path) -> None:
        self.environment = environment
        self.templates_dir = templates_dir

    def available(self) -> list[str]:
        """Names of the templates in the folder (partials starting with ``_`` left out)."""
        if not self.templates_dir.is_dir():
            return []
        return sorted(
            path.name.removesuffix(TEMPLATE_SUFFIX)
            for path in self.templates_dir.glob(f"*{TEMPLATE_SUFFIX}")
            if not path.name.startswith("_")
        )

    def warm(self) -> int:
        """Compile every template (partials too) now; how many. ``serve`` calls it at start:
        compiling one takes 3-25 ms, most of it in ``compile()``, which holds the interpreter
        lock throughout, so a first message compiled lazily would pause every click in flight.
        Templates that do not compile are left for ``render`` to report."""
        compiled = 0
        for path in sorted(self.templates_dir.glob(f"*{TEMPLATE_SUFFIX}")):
            try:
                self.environment.get_template(path.name)
            except TemplateError:
                continue
            compiled += 1
        return compiled

    def render_source(self, name: str, context: Mapping[str, Any]) -> str:
        """The template's raw output, trailing commas dropped (not yet parsed or checked)."""
        filename = name + TEMPLATE_SUFFIX
        if name.startswith("_") or "/" in name or "\\" in name:
            raise UnknownTemplateError(name, self.available())
        try:
            template = self.environment.get_template(filename)
        except TemplateNotFound:
            raise UnknownTemplateError(name, self.available()) from None
        except TemplateSyntaxError as error:
            raise RenderError(name, f"syntax error: {error.message}", line=error.lineno) from None
        try:
            output = template.render(dict(context))
        except UndefinedError as error:
            line = _template_line(sys.exc_info()[2], template.filename or "")
            raise RenderError(name, f"missing context value: {error}", line=line) from None
        except escaping.ButtonValueTooLong as error:
            raise RenderError(name, str(error)) from None
        except TemplateError as error:
            line = _template_line(sys.exc_info()[2], template.filename or "")
            raise RenderError(name, f"{type(error).__name__}: {error}", line=line) from None
        return limits.strip_trailing_commas(output)

    def render(self, name: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """The Block Kit message ``{"text", "blocks"}`` (or a modal or home view), checked."""
        source = self.render_source(name, context)
        try:
            payload = json.loads(source)
        except json.JSONDecodeError as error:
            lines = source.splitlines()
            bad = lines[error.lineno - 1].strip() if 0 < error.lineno <= len(lines) else ""
            raise RenderError(
                name,
                f"output is not valid JSON at output line {error.lineno} column {error.colno}: "
                f"{error.msg}: {bad[:120]!r}",
            ) from None
        if isinstance(payload, dict) and payload.get("type") in validation.VIEW_TYPES:
            problems = validation.view_problems(limits.fit_view(payload))
        elif isinstance(payload, dict):
            problems = validation.message_problems(limits.fit_message(payload))
        else:
            problems = validation.message_problems(payload)
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise RenderError(name, f"{first}{more}", block_index=first.index)
        result: dict[str, Any] = payload
        return result


def make_renderer(templates_dir: Path, *, public_url: str | None = None) -> Renderer:
    """A renderer over ``templates_dir``; each call builds its own environment."""
    return Renderer(make_environment(Path(templates_dir), public_url), Path(templates_dir))
