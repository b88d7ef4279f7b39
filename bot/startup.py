"""What ``serve`` checks before its slow start-up work, so that the first deployment mistakes
end in one line saying what is wrong and what to do, and a non-zero exit.

In order, fastest first: the settings, the port (bound here, before migrations and Slack
calls: a busy port used to be found after both), the runbooks and templates, then Slack's
answer to the tokens (``auth.test``; ``apps.connections.open`` for Socket Mode), one attempt
each with a short timeout, where the bot's own client would retry for a minute and end in a
traceback; the database (migrations) last.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SLACK_CHECK_TIMEOUT_S = 10
_SILENT = logging.getLogger("bot.startup.slack_check")  # its failures are said in one line
_SILENT.propagate = False
_SILENT.addHandler(logging.NullHandler())
_TOKEN_ERRORS = {
    "invalid_auth": "is not valid",
    "not_authed": "is missing",
    "token_revoked": "has been revoked",
    "token_expired": "has expired",
    "account_inactive": "belongs to a deleted user or workspace",
    "not_allowed_token_type": "is the wrong kind of token",
}


class StartupError(Exception):
    """The bot cannot start; the message says what is missing or wrong and what to do."""


class LateApp:
    """A WSGI app whose target is set once start-up is done; the port can be bound first."""

    def __init__(self) -> None:
        self.app: WSGIApplication | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"releasebot is starting\n"]
        return self.app(environ, start_response)


def bind_failure(error: OSError, *, host: str, port: int) -> StartupError:
    """The one line for a port that cannot be bound."""
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            f"port {port} on {host} is already in use (another releasebot or server?): stop "
            "it, or choose another port with --port"
        )
    if error.errno == errno.EACCES:
        return StartupError(
            f"no permission to listen on port {port}: use a port above 1023 (and a proxy in "
            "front for 443)"
        )
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(
        error, socket.gaierror
    ):
        return StartupError(f"cannot listen on {host}: not an address of this machine (--host)")
    return StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}")


def check_slack_tokens(settings: Settings, *, socket_mode: bool) -> None:
    """Ask Slack whether it accepts the bot token (and, for Socket Mode, the app token)."""
    assert settings.slack_bot_token is not None
    client = WebClient(
        base_url=settings.slack_api_url,
        timeout=SLACK_CHECK_TIMEOUT_S,
        retry_handlers=[],  # one attempt: the answer is the one line serve prints
        logger=_SILENT,
    )
    bot_token = settings.slack_bot_token.get_secret_value()
    _ask(client, "auth_test", "SLACK_BOT_TOKEN", "the Bot User OAuth Token (xoxb-...) from "
         "OAuth & Permissions", settings, token=bot_token)  # fmt: skip
    if socket_mode:
        assert settings.slack_app_token is not None
        _ask(client, "apps_connections_open", "SLACK_APP_TOKEN", "an app-level token "
             "(xapp-...) with the connections:write scope, from Basic Information", settings,
             app_token=settings.slack_app_token.get_secret_value())  # fmt: skip


def _ask(
    client: WebClient, method: str, name: str, wanted: str, settings: Settings, **kwargs: Any
) -> None:
    try:
        if method == "auth_test":
            client.auth_test(**kwargs)
        else:
            client.apps_connections_open(**kwargs)
    except SlackApiError as error:
        code = str(error.response.get("error") or error.response.status_code)
        what = _TOKEN_ERRORS.get(code, f"was refused ({code})")
        raise StartupError(f"Slack says {name} {what} ({code}): set it to {wanted}") from None
    except (SlackClientError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise StartupError(
            f"cannot reach Slack's Web API at {settings.slack_api_url} ({reason}): check the "
            "network, a proxy, or RELEASEBOT_SLACK_API_URL"
        ) from None
