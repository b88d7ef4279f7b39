"""``ManualClock``: the emulator's time, moved only by the test.

Give one to ``SlackEmulator(clock=...)`` to drive what depends on Slack's time without
sleeping: a ``trigger_id`` expires once the clock has moved past its 3 seconds, and rate
limits refill only as far as the clock has moved. Message timestamps still increase (by 100
microseconds) while the clock stands still.
"""

from __future__ import annotations

import threading

# 2026-01-01 00:00:00 UTC: a fixed, plausible start, so timestamps read like Slack's.
DEFAULT_START = 1_767_225_600.0


class ManualClock:
    """A callable returning Unix seconds, starting at ``start`` and moved by :meth:`advance`."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (not back); returns the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now
