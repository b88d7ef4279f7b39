"""Logging for ``serve`` and the other commands: one handler, quiet defaults, no secrets.

- ``RELEASEBOT_LOG_LEVEL`` (default INFO) and ``RELEASEBOT_LOG_FORMAT``: ``text`` (one line a
  record) or ``json`` (one object a line: ``time``, ``level``, ``logger``, ``message``, and
  ``request_id``, ``subject``, ``job``, ``timer`` or ``exception`` where known). ``subject``
  is what the work is about, as the trail and the timers name it (``request:12``,
  ``rollback:3``, ``review:4``, ``release:ranking-model:v2.4.0``): set for a timer's run
  (its key), an outbox job (from its payload) and a click (from its button's value). Records
  logged on another thread (the group-commit writer's) do not carry it.
- Quiet by default: Alembic's per-migration chatter and APScheduler's two lines per job run
  are shown only at DEBUG; Bolt's warning that the ``SLACK_BOT_TOKEN`` it read itself is
  unused (the bot gives Bolt its client) is dropped.
- Never secrets or request bodies: Bolt logs a request with an invalid signature, body
  included, at INFO; the body is cut. Slack tokens and bearer tokens in any message are
  replaced by ``[redacted]``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HANDLER_NAME = "releasebot"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("alembic", "apscheduler")  # shown at DEBUG only
CONTEXT_FIELDS = ("request_id", "subject", "job", "timer")
_CONTEXT: ContextVar[dict[str, str]] = ContextVar("releasebot_log_context", default={})  # noqa: B039
_SECRETS = re.compile(r"\b(xox[abposre]|xapp)-[A-Za-z0-9-]+|(?i:bearer)\s+\S+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BOLT_UNUSED_TOKEN = "As you gave `client` as well, `token` will be unused."
_BOLT_BAD_SIGNATURE = "Invalid request signature detected"


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add ``fields`` (``request_id``, ``subject``...) to every record logged inside."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _Hygiene(logging.Filter):
    """Adds the context's fields; drops Bolt's unused-token warning; cuts bodies and secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        message = record.getMessage()
        if record.name.startswith("slack_bolt"):
            if message == _BOLT_UNUSED_TOKEN:
                return False
            if message.startswith(_BOLT_BAD_SIGNATURE):
                message = f"{_BOLT_BAD_SIGNATURE}: refused with 401 (the body is not logged)"
        cleaned = _SECRETS.sub(
            lambda m: m.group(0).split("-")[0].split()[0] + " [redacted]", message
        )
        if cleaned != record.getMessage():
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever ``sys.stderr`` is when a record is written (tests replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    *, level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None
) -> None:
    """Route every logger through one handler on ``stream`` (the current standard error by
    default); calling it again replaces that handler, and leaves others' handlers alone."""
    handler = logging.StreamHandler(stream) if stream is not None else _StandardError()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_Hygiene())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric)
    for name in CHATTY:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


class RequestIds:
    """WSGI middleware: each request gets an id (the caller's ``X-Request-Id`` when it is a
    plain token, a new one otherwise), in its log records and in the answer's headers."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]

        def respond(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            return start_response(status, [*headers, ("X-Request-Id", request_id)], *rest)

        with log_context(request_id=request_id):
            return self.app(environ, respond)
