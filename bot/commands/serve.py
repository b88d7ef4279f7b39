"""``releasebot serve``: the Slack request URL and the hooks over HTTP, or Socket Mode."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from types import FrameType

from bot.bootstrap import StartupError, build
from bot.config import Settings
from bot.web.server import make_server

SWITCH_INTERVAL_S = 0.001


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runtime = build(settings, socket_mode=args.socket)
    except StartupError as error:
        print(f"releasebot serve: refusing to start: {error}", file=sys.stderr)
        return 2
    server = make_server(runtime.web_app, host=args.host, port=args.port, threads=args.threads)
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
            socket_handler.connect()  # type: ignore[no-untyped-call]
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
