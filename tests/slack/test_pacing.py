"""The delivery's pacing, on a clock the test moves: buckets per (method, channel) shaped like
Slack's limits, and a 429's back-off for its own key only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services.outbox.worker import Deferred
from bot.slack.pacing import Pacing

T0 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_posts_go_in_bursts_of_three_then_one_a_second_per_channel() -> None:
    clock = Clock()
    pacing = Pacing(clock)
    assert [pacing.admit("chat.postMessage", "CA") for _ in range(3)] == [None] * 3
    assert pacing.admit("chat.postMessage", "CA") == T0 + timedelta(seconds=1)
    assert pacing.admit("chat.postMessage", "CB") is None  # another channel: its own bucket
    assert pacing.admit("chat.update", "CA") is None  # another method
    clock.now = T0 + timedelta(seconds=1)
    assert pacing.admit("chat.postMessage", "CA") is None
    assert pacing.admit("chat.postMessage", "CA") is not None


def test_a_429_backs_off_its_method_and_channel_only() -> None:
    clock = Clock()
    pacing = Pacing(clock)
    assert pacing.limited("chat.postMessage", "CA", 30) == T0 + timedelta(seconds=30)
    assert pacing.admit("chat.postMessage", "CA") == T0 + timedelta(seconds=30)
    assert pacing.admit("chat.postMessage", "CB") is None
    assert pacing.admit("chat.update", "CA") is None
    assert pacing.waiting() == {("chat.postMessage", "CA"): T0 + timedelta(seconds=30)}
    clock.now = T0 + timedelta(seconds=30)
    assert pacing.admit("chat.postMessage", "CA") is None
    assert pacing.waiting() == {}


def test_a_paced_call_is_not_made_and_says_when_it_may_go() -> None:
    pacing = Pacing(Clock())
    made: list[int] = []
    for n in range(3):
        pacing.call("chat.postMessage", "CA", lambda n=n: made.append(n))
    with pytest.raises(Deferred) as deferred:
        pacing.call("chat.postMessage", "CA", lambda: made.append(3))
    assert made == [0, 1, 2] and deferred.value.until == T0 + timedelta(seconds=1)
