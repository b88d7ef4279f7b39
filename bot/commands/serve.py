"""``releasebot serve``: the Slack request URL and the hooks over HTTP, or Socket Mode."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from types import FrameType

from slack_sdk.errors import SlackClientError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import build, load_registry, require_slack_settings
from bot.config import Settings
from bot.logs import configure_logging
from bot.startup import LateApp, StartupError, bind_failure, check_slack_tokens
from bot.store.engine import normalise_database_url
from bot.web.server import make_server

SWITCH_INTERVAL_S = 0.001


def refuse(message: str) -> int:
    print(f"releasebot serve: refusing to start: {message}", file=sys.stderr)
    return 2


def database_failure(settings: Settings, error: SQLAlchemyError) -> str:
    shown = make_url(normalise_database_url(settings.database_url))
    lines = str(getattr(error, "orig", None) or error).strip().splitlines() or [repr(error)]
    return (
        f"cannot open the database {shown.render_as_string(hide_password=True)}: {lines[0]} "
        "(check RELEASEBOT_DATABASE_URL, and that the database is up)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    late_app = LateApp()
    try:
        require_slack_settings(settings, socket_mode=args.socket)
        try:  # bound before anything slow: a busy port is said at once
            server = make_server(late_app, host=args.host, port=args.port, threads=args.threads)
        except OSError as error:
            raise bind_failure(error, host=args.host, port=args.port) from None
    except StartupError as error:
        return refuse(str(error))
    try:
        registry = load_registry(settings)  # local, so before any network call
        check_slack_tokens(settings, socket_mode=args.socket)
        runtime = build(settings, socket_mode=args.socket, registry=registry)
    except (StartupError, SQLAlchemyError) as error:
        server.close()
        if isinstance(error, SQLAlchemyError):
            return refuse(database_failure(settings, error))
        return refuse(str(error))
    late_app.app = runtime.web_app
    socket_handler = None
    stopping: list[int] = []
    runtime.start()
    try:
        if args.socket:
            from bot.slack.socket_mode import MeasuredSocketModeHandler

            assert settings.slack_app_token is not None
            socket_handler = MeasuredSocketModeHandler(
                runtime.bolt_app, settings.slack_app_token.get_secret_value(), runtime.metrics,
                workers=args.threads, on_refused=runtime.tell_refusal,
            )  # fmt: skip
            try:
                socket_handler.connect()  # type: ignore[no-untyped-call]
            except (SlackClientError, OSError) as error:
                socket_handler = None
                print(f"releasebot serve: cannot connect in Socket Mode: {error}", file=sys.stderr)
                return 2
            print("releasebot: connected to Slack in Socket Mode", flush=True)

        def shut_down(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)
            server.close()

        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
        print(
            f"releasebot: serving on http://{server.effective_host}:{server.effective_port} "
            f"(Slack request URL: /slack/events; /healthz, /metrics)",
            flush=True,
        )
        # Everything built so far lives as long as the process: move it out of the garbage
        # collector's generations, so that its full collections stop pausing every thread.
        gc.collect()
        gc.freeze()
        # A click's transaction waits on the database several times; after each wait its
        # thread needs the interpreter back, and a thread busy parsing the next request
        # gives it up only every switch interval (5 ms by default).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        server.run()
    except OSError as error:
        if not stopping:  # closing the listening socket on SIGTERM ends run() this way
            print(f"releasebot serve: {error}", file=sys.stderr)
            return 1
    finally:
        if socket_handler is not None:
            socket_handler.close()  # type: ignore[no-untyped-call]
        runtime.stop()
    return 0
