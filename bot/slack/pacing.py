"""Pacing the delivery's Slack calls by method and channel, so one limit never holds up the rest.

Slack limits each Web API method per workspace by tier (Tier 2: 20+ calls a minute, Tier 3:
50+, Tier 4: 100+, bursts tolerated) and ``chat.postMessage`` to about one message a second
per channel, short bursts allowed; past a limit it answers HTTP 429 with ``Retry-After``.

The delivery keeps one token bucket per key, ``(method, channel)`` for ``chat.postMessage``
(one a second, bursts of 10) and ``(method, "")`` for the rest, shaped like Slack's limits,
and a back-off per ``(method, channel)`` after a 429. A call whose key has no token, or is
backing off, is not made: its job is deferred (``Deferred``, the attempt not counted) until
the key may go again, and the worker takes the next job meanwhile, so a 429 on one channel
or method delays no other one. Each process paces its own calls; replicas share Slack's
limits, so a 429 can still come and is then honoured for its key only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TypeVar

from slack_sdk.errors import SlackApiError

from bot.services.outbox.worker import Deferred

log = logging.getLogger(__name__)
T = TypeVar("T")
POST_MESSAGE = "chat.postMessage"


@dataclass(frozen=True)
class Rate:
    """``per_minute`` calls a minute, refilled evenly, of which ``burst`` may come at once."""

    per_minute: float
    burst: int


TIERS: Mapping[int, Rate] = MappingProxyType({2: Rate(20, 20), 3: Rate(50, 50), 4: Rate(100, 100)})
# Slack's method reference; chat.getPermalink is "special" without a figure: Tier 4 here.
METHOD_TIERS: Mapping[str, int] = MappingProxyType(
    {
        "chat.update": 3,
        "chat.postEphemeral": 4,
        "chat.getPermalink": 4,
        "conversations.history": 3,
        "conversations.replies": 3,
        "views.open": 4,
        "views.publish": 4,
    }
)
# chat.postMessage: one a second per channel; Slack grants "generous burst behavior" without
# a figure: 10 here. Past Slack's real burst, its 429 is honoured for that channel only.
POSTS_PER_CHANNEL = Rate(60, 10)


@dataclass
class _Bucket:
    tokens: float
    updated: datetime


class Pacing:
    """Token buckets and 429 back-offs per key, on the delivery's clock; thread-safe.

    ``shape_calls`` False keeps only the back-offs after Slack's 429s: the sandbox sets it when
    it runs on a clock that only its test moves, where a bucket would never refill."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        posts_per_channel: Rate = POSTS_PER_CHANNEL,
        shape_calls: bool = True,
    ) -> None:
        self.clock = clock
        self.posts_per_channel = posts_per_channel
        self.shape_calls = shape_calls
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._blocked: dict[tuple[str, str], datetime] = {}
        self._next_slot: dict[tuple[str, str], datetime] = {}  # the next free slot per key
        self._lock = threading.Lock()

    def shape(self, method: str, channel: str | None) -> tuple[tuple[str, str], Rate]:
        if method == POST_MESSAGE:
            return (method, channel or ""), self.posts_per_channel
        return (method, ""), TIERS[METHOD_TIERS.get(method, 3)]

    def admit(self, method: str, channel: str | None) -> datetime | None:
        """Take a token for one call now (None), or say when the call may go."""
        key, rate = self.shape(method, channel)
        per_second = rate.per_minute / 60.0
        with self._lock:
            now = self.clock()
            blocked = self._blocked.get((method, channel or ""))
            if blocked is not None and blocked > now:
                return blocked
            if not self.shape_calls:
                return None
            bucket = self._buckets.setdefault(key, _Bucket(float(rate.burst), now))
            elapsed = max(0.0, (now - bucket.updated).total_seconds())
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            # Each call turned away gets its own later slot, one token apart: a backlog on
            # one key comes back one job at a time, not all at once to be turned away again.
            slot = max(
                now + timedelta(seconds=(1.0 - bucket.tokens) / per_second),
                self._next_slot.get(key, now),
            )
            self._next_slot[key] = slot + timedelta(seconds=1.0 / per_second)
            return slot

    def limited(self, method: str, channel: str | None, retry_after: float) -> datetime:
        """Slack answered 429: this ``(method, channel)`` waits ``retry_after`` seconds;
        returns when it may go again."""
        with self._lock:
            now = self.clock()
            until = now + timedelta(seconds=max(retry_after, 0.0))
            key = (method, channel or "")
            self._blocked[key] = max(until, self._blocked.get(key, until))
            bucket_key, _ = self.shape(method, channel)
            bucket = self._buckets.get(bucket_key)
            if bucket is not None:  # Slack says we are past the limit: start from empty
                bucket.tokens, bucket.updated = 0.0, now
            return self._blocked[key]

    def waiting(self) -> dict[tuple[str, str], datetime]:
        """The keys backing off after a 429, and until when (for metrics and tests)."""
        with self._lock:
            now = self.clock()
            return {key: until for key, until in self._blocked.items() if until > now}

    def call(self, method: str, channel: str | None, slack_call: Callable[[], T]) -> T:
        """Make ``slack_call`` (a call of ``method`` naming ``channel``) if its key may go now;
        else, or if Slack answers 429, raise ``Deferred`` until the key may go again."""
        may_go_at = self.admit(method, channel)
        if may_go_at is not None:
            raise Deferred(may_go_at, f"{method} in {channel or 'any channel'}: paced")
        try:
            return slack_call()
        except SlackApiError as error:
            if error.response.status_code != 429:
                raise
            retry_after = _seconds(error.response.headers.get("Retry-After"))
            until = self.limited(method, channel, retry_after)
            log.info("%s in %s rate limited for %.0f s", method, channel, retry_after)
            raise Deferred(until, f"{method} in {channel or 'any channel'}: 429") from error


def _seconds(header: object) -> float:
    try:
        return max(0.0, float(str(header)))
    except ValueError:
        return 1.0
