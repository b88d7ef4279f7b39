"""``releasebot demo``: the review and the rollback against the built-in Slack emulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Settings
from bot.devtools.demo import DemoError, demo_database, run_demo
from bot.devtools.drill_demo import DrillDemoError, run_drill_demo
from bot.logs import configure_logging


def run(args: argparse.Namespace, settings: Settings) -> int:
    # the story is the output: the bot's own logs only when asked for (RELEASEBOT_LOG_LEVEL)
    explicit = "log_level" in settings.model_fields_set
    configure_logging(level=settings.log_level if explicit else "ERROR", fmt=settings.log_format)
    invoked = Path(sys.argv[0]).name == "releasebot"
    try:
        if getattr(args, "drill", False):
            return run_drill_demo(
                database=demo_database(args.keep),
                program=sys.argv[0] if invoked else "releasebot",
            )
        return run_demo(
            keep=args.keep,
            socket_mode=args.socket,
            program=sys.argv[0] if invoked else "releasebot",
        )
    except (DemoError, DrillDemoError) as error:
        print(f"releasebot demo: {error}", file=sys.stderr)
        return 1
