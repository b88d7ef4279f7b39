"""``releasebot worker``: deliver the outbox, run executors and the schedule; no HTTP.

``releasebot serve`` starts one as its child process (unless ``--worker thread``), so that
the work after a click (rendering, posting, permalinks, running rollbacks) does not compete
with the clicks for the serving process's interpreter. It can also be run on its own, beside
any number of ``serve --worker none`` replicas.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from bot.bootstrap import StartupError, build
from bot.config import Settings
from bot.doorbell import DoorbellListener


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.nice:
        os.nice(args.nice)
    try:
        runtime = build(settings)
    except StartupError as error:
        print(f"releasebot worker: refusing to start: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    runtime.start()
    listener = None
    if args.doorbell is not None:
        listener = DoorbellListener(Path(args.doorbell), runtime.wake).start()
    print("releasebot worker: delivering the outbox and running the schedule", flush=True)
    try:
        while not stopping.wait(1.0):
            if args.parent_pid is not None and os.getppid() != args.parent_pid:
                print("releasebot worker: the serving process is gone; stopping", flush=True)
                break
    finally:
        if listener is not None:
            listener.close()
        runtime.stop()
    return 0
