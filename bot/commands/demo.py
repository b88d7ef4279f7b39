"""``releasebot demo``: the review and the rollback against the built-in Slack emulator."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.config import Settings
from bot.demo import DemoError, run_demo


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=logging.ERROR)
    invoked = Path(sys.argv[0]).name == "releasebot"
    try:
        return run_demo(
            keep=args.keep,
            socket_mode=args.socket,
            program=sys.argv[0] if invoked else "releasebot",
        )
    except DemoError as error:
        print(f"releasebot demo: {error}", file=sys.stderr)
        return 1
