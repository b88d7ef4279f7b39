"""The delivery's pacing, on a clock the test moves: buckets per (method, channel) shaped like
Slack's limits, and a 429's back-off for its own key only; and which message is a job's post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services.outbox.worker import Deferred
from bot.slack.pacing import Pacing, Rate
from bot.slack.posts import Poster, outbox_metadata, posted_by
from bot.store.outbox import ClaimedJob

T0 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_posts_go_in_bursts_then_one_a_second_per_channel() -> None:
    clock = Clock()
    pacing = Pacing(clock)
    assert [pacing.admit("chat.postMessage", "CA") for _ in range(10)] == [None] * 10
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
    pacing = Pacing(Clock(), posts_per_channel=Rate(60, 3))
    made: list[int] = []
    for n in range(3):
        pacing.call("chat.postMessage", "CA", lambda n=n: made.append(n))
    with pytest.raises(Deferred) as deferred:
        pacing.call("chat.postMessage", "CA", lambda: made.append(3))
    assert made == [0, 1, 2] and deferred.value.until == T0 + timedelta(seconds=1)


def test_only_the_bots_own_message_with_the_jobs_metadata_is_its_post() -> None:
    job = ClaimedJob(42, "post_message", {}, 2, T0)
    me = Poster(user_id="U0BOT", bot_id="B0BOT")
    metadata = outbox_metadata(job)
    mine = {"user": "U0BOT", "bot_id": "B0BOT", "ts": "1.0", "metadata": metadata}
    assert posted_by(mine, job, me)
    as_text = {**metadata, "event_payload": {"job_id": "42", "queued_at": T0.isoformat()}}
    assert posted_by({**mine, "metadata": as_text}, job, me)  # a number given back as text
    forged = {"user": "U0MALLORY", "bot_id": "B0OTHER", "ts": "2.0", "metadata": metadata}
    assert not posted_by(forged, job, me)  # another app cannot silence a post
    other_job = outbox_metadata(ClaimedJob(42, "post_message", {}, 2, T0 + timedelta(seconds=1)))
    assert not posted_by({**mine, "metadata": other_job}, job, me)  # same id, other database
    assert not posted_by({"user": "U0BOT", "ts": "3.0"}, job, me)
