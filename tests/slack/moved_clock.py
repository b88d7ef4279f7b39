"""`releasebot serve` on a moved, faster wall clock: for replica tests of cron-scheduled work.

A drill's cron slots are a minute apart at least, so real `serve` processes would need
minutes of wall time to show two slots. Started as ``python -m tests.slack.moved_clock serve
...`` with ``MOVED_CLOCK="START_ISO REAL_EPOCH SPEED"`` in its environment, a process reads
``START + (time.time() - REAL_EPOCH) × SPEED`` wherever releasebot reads the wall clock
(``bot.clock.utc_now``, replaced before any other ``bot`` module is imported), then runs the
real CLI. Every process given the same value shares one clock. Test-only: nothing in ``bot``
reads this variable. What does not go through ``bot.clock`` keeps real time (sleeps and
polling, Slack request signatures, the emulator).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta

import bot.clock
from bot.clock import Clock

VARIABLE = "MOVED_CLOCK"


def moved_clock(start: datetime, real_epoch: float, speed: float) -> Clock:
    """``start`` at the real moment ``real_epoch``, then ``speed`` times as fast."""

    def now() -> datetime:
        return start + timedelta(seconds=(time.time() - real_epoch) * speed)

    return now


def encode(start: datetime, real_epoch: float, speed: float) -> str:
    return f"{start.astimezone(UTC).isoformat()} {real_epoch!r} {speed!r}"


def decode(value: str) -> Clock:
    start, real_epoch, speed = value.split()
    return moved_clock(datetime.fromisoformat(start), float(real_epoch), float(speed))


def main() -> int:
    bot.clock.utc_now = decode(os.environ[VARIABLE])
    from bot.cli import main as cli  # imported now: its modules bind the moved clock

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
