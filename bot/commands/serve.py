"""``releasebot serve``: the Slack request URL and the hooks over HTTP, or Socket Mode."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from bot.bootstrap import StartupError, build
from bot.config import Settings
from bot.doorbell import Doorbell
from bot.web.server import make_server

log = logging.getLogger(__name__)
# The worker's work (posting what a click decided) can wait a moment; the click's ack cannot.
WORKER_NICENESS = 10


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
    worker = None
    if args.worker == "process":
        worker = WorkerProcess()
        runtime.services.wakers.append(worker.doorbell.ring)
    runtime.start(background=args.worker == "thread")
    if worker is not None:
        worker.start()
    try:
        if args.socket:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert settings.slack_app_token is not None
            socket_handler = SocketModeHandler(
                runtime.bolt_app, settings.slack_app_token.get_secret_value()
            )
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
        server.run()
    except OSError as error:
        if not stopping:  # closing the listening socket on SIGTERM ends run() this way
            print(f"releasebot serve: {error}", file=sys.stderr)
            return 1
    finally:
        if socket_handler is not None:
            socket_handler.close()  # type: ignore[no-untyped-call]
        if worker is not None:
            worker.stop()
        runtime.stop()
    return 0


class WorkerProcess:
    """``releasebot worker`` as a child process, restarted if it dies, rung on new work."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="releasebot-")
        self.doorbell_path = Path(self._folder.name) / "doorbell"
        self.doorbell = Doorbell(self.doorbell_path)
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor")
        self._supervisor.daemon = True

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "bot.cli", "worker", "--nice", str(WORKER_NICENESS),
            "--doorbell", str(self.doorbell_path), "--parent-pid", str(os.getpid()),
        ]  # fmt: skip

    def start(self) -> None:
        self._process = subprocess.Popen(self.command())
        self._supervisor.start()

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)
            log.error("the worker process exited (%s); restarting it in %.0f s", code, backoff)
            if self._stopping.wait(backoff):
                return
            self._process = subprocess.Popen(self.command())

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.doorbell.close()
        self._folder.cleanup()
