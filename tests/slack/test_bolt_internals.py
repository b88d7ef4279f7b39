"""The parts of Bolt and slack_sdk the bot uses that are not their public API, pinned here.

``pyproject.toml`` keeps ``slack-bolt`` and ``slack-sdk`` below their next major versions; a
minor release may still move an internal. The bot uses a few (a faster parse of Slack's
bodies beside Bolt's own, Bolt's WSGI adapter pieces, its Socket Mode runner, slack_sdk's
built-in Socket Mode client's socket): each is listed here with the parameters the bot passes,
so that an upgrade that changes one fails this test, loudly and by name, instead of a click in
production. A new internal used in ``bot/`` must be added here: the scan below finds it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.web.slack_request import parse_slack_body

ROOT = Path(__file__).resolve().parents[2]
# Modules whose names the bot may import freely: Bolt's and slack_sdk's documented API.
PUBLIC = {
    "slack_bolt",
    "slack_bolt.context",
    "slack_bolt.error",
    "slack_bolt.request",
    "slack_sdk",
    "slack_sdk.errors",
    "slack_sdk.http_retry.builtin_handlers",
    "slack_sdk.models.blocks",
    "slack_sdk.models.views",
    "slack_sdk.signature",
    "slack_sdk.socket_mode.request",
    "slack_sdk.socket_mode.response",
}
# (module, name) -> the parameters the bot relies on (of the function, or of the method named).
INTERNALS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("slack_bolt.request.internals", "parse_body"): {"": ["body", "content_type"]},
    ("slack_bolt.request.internals", "build_context"): {"": ["context", "body"]},
    ("slack_bolt.adapter.socket_mode.internals", "run_bolt_app"): {"": ["app", "req"]},
    ("slack_bolt.adapter.socket_mode.internals", "send_response"): {
        "": ["client", "req", "bolt_resp", "start_time"]
    },
    ("slack_bolt.adapter.socket_mode.base_handler", "BaseSocketModeHandler"): {
        "connect": ["self"],
        "close": ["self"],
        "handle": ["self", "client", "req"],
    },
    ("slack_bolt.adapter.wsgi.http_request", "WsgiHttpRequest"): {
        "__init__": ["self", "environ"],
        "get_body": ["self"],
        "get_headers": ["self"],
    },
    ("slack_bolt.adapter.wsgi.http_response", "WsgiHttpResponse"): {
        "__init__": ["self", "status", "headers", "body"],
        "get_headers": ["self"],
        "get_body": ["self"],
    },
    ("slack_sdk.socket_mode.builtin", "SocketModeClient"): {
        "connect": ["self"],
        "__init__": ["self", "app_token", "logger", "web_client", "concurrency", "proxy"],
    },
}


def bot_imports_from_slack() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slack_"):
                found.update((str(node.module), alias.name) for alias in node.names)
    return found


def test_the_pins_hold_the_major_versions_tested() -> None:
    assert version("slack-bolt").split(".")[0] == "1"
    assert version("slack-sdk").split(".")[0] == "3"
    pins = (ROOT / "pyproject.toml").read_text()
    assert '"slack-bolt>=1.30,<2"' in pins and '"slack-sdk>=3.40,<4"' in pins


def test_every_internal_the_bot_imports_is_listed_here() -> None:
    used = {(module, name) for module, name in bot_imports_from_slack() if module not in PUBLIC}
    assert used == set(INTERNALS), "list the new internal in INTERNALS (or stop using it)"


@pytest.mark.parametrize("where", sorted(INTERNALS), ids=lambda w: f"{w[0]}.{w[1]}")
def test_an_internal_still_has_the_parameters_the_bot_passes(where: tuple[str, str]) -> None:
    module, name = where
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"{module}.{name} is gone"
    for member, wanted in INTERNALS[where].items():
        target = getattr(found, member) if member else found
        parameters = list(inspect.signature(target).parameters)
        missing = [p for p in wanted if p not in parameters]
        assert missing == [], f"{module}.{name}.{member or '__call__'} lost {missing}"


def test_the_socket_mode_client_still_keeps_its_socket_where_nodelay_finds_it() -> None:
    """``bot.slack.socket_mode`` sets TCP_NODELAY on ``client.current_session.sock``."""
    from slack_sdk.socket_mode.builtin import SocketModeClient
    from slack_sdk.socket_mode.builtin.connection import Connection

    assert "self.current_session" in inspect.getsource(SocketModeClient.connect)
    assert "self.sock" in inspect.getsource(Connection.__init__)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=%7B%22type%22%3A%22block_actions%22%2C%22n%22%3A1%7D", None),
        ("payload=%7B%22text%22%3A%22caf%C3%A9+%26+co%22%7D", "application/x-www-form-urlencoded"),
        ("command=%2Frelease&text=start+ranking-model+v2.4.0", None),
        ('{"type": "event_callback", "event": {"type": "app_mention"}}', "application/json"),
    ],
)
def test_the_fast_body_parse_still_agrees_with_bolts(body: str, content_type: str | None) -> None:
    from slack_bolt.request.internals import parse_body

    assert parse_slack_body(body, content_type) == parse_body(body, content_type)


def test_bolt_still_injects_a_listeners_arguments_by_name() -> None:
    """The listeners are registered as ``lambda ack, body, action: ...`` (``bot.slack.
    listeners``): Bolt finds what to pass from the parameters' names."""
    from slack_bolt.util.utils import get_arg_names_of_callable

    assert get_arg_names_of_callable(lambda ack, body, action: None) == ["ack", "body", "action"]
