"""The moved clock the replica tests give `serve` processes (``tests.slack.moved_clock``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.slack import moved_clock


def test_every_process_decoding_the_same_value_reads_the_same_moved_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
    value = moved_clock.encode(start, 1_000.25, 6.0)
    first, second = moved_clock.decode(value), moved_clock.decode(value)
    monkeypatch.setattr(time, "time", lambda: 1_000.25)
    assert first() == second() == start
    monkeypatch.setattr(time, "time", lambda: 1_010.25)  # 10 real seconds later
    assert first() == second() == start + timedelta(minutes=1)
