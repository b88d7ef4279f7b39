"""``releasebot demo``: the full scenario against the built-in Slack emulator."""

from __future__ import annotations

import argparse
import logging

from bot.config import Settings
from bot.demo import run_demo


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=logging.ERROR)
    return run_demo(socket_mode=args.socket)
