"""Slot arithmetic: every replica computes the same next slot from the same time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.scheduler.slots import Cron, Every, next_repeat

BERLIN = ZoneInfo("Europe/Berlin")


def test_every_counts_its_slots_from_the_epoch_not_from_a_replica_start() -> None:
    every = Every(timedelta(seconds=30))
    at = datetime(2026, 11, 27, 10, 0, 7, 500, tzinfo=UTC)
    assert every.next_after(at) == datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)
    # a slot itself is not "after" itself: the next one follows
    assert every.next_after(datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)) == datetime(
        2026, 11, 27, 10, 1, tzinfo=UTC
    )
    # another time zone's notation of the same instant gives the same slot
    assert every.next_after(at.astimezone(BERLIN)) == every.next_after(at)
    with pytest.raises(ValueError):
        Every(timedelta(0))


def test_cron_fires_at_the_wall_clock_time_of_its_zone_across_daylight_saving() -> None:
    wednesdays = Cron("0 15 * * wed", "Europe/Berlin")
    summer = wednesdays.next_after(datetime(2026, 10, 20, tzinfo=UTC))  # a Tuesday, CEST
    winter = wednesdays.next_after(datetime(2026, 10, 27, tzinfo=UTC))  # after the change
    assert summer == datetime(2026, 10, 21, 13, 0, tzinfo=UTC)  # 15:00 CEST
    assert winter == datetime(2026, 10, 28, 14, 0, tzinfo=UTC)  # 15:00 CET
    assert summer.astimezone(BERLIN).hour == winter.astimezone(BERLIN).hour == 15
    # strictly after: a slot planned from its own time is the following one
    assert wednesdays.next_after(summer) == winter  # a week later, an hour later in UTC
    assert wednesdays.next_after(summer - timedelta(microseconds=1)) == summer


def test_a_repeating_timer_skips_the_slots_nobody_ran() -> None:
    due = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert next_repeat(due, hour, due + timedelta(seconds=2)) == due + hour  # on time
    assert next_repeat(due, hour, due + timedelta(hours=5, minutes=1)) == due + 6 * hour
    assert next_repeat(due, hour, due - timedelta(minutes=1)) == due + hour  # run early
