"""Slack's Web API rate limits, as the emulator applies them once switched on.

Slack limits each Web API method per app and workspace by *tier* (Tier 1: 1+ calls a
minute, Tier 2: 20+, Tier 3: 50+, Tier 4: 100+, each tolerating some burst), and
``chat.postMessage`` by its special rule: about one message per second per channel, short
bursts allowed. A limited call is answered HTTP 429 with ``Retry-After`` (whole seconds) and
``{"ok": false, "error": "ratelimited"}``.

The emulator models each limit as a token bucket: ``burst`` calls at once, refilled at the
tier's rate; ``Retry-After`` is the time until the next token. Slack publishes minimums and
no burst sizes, so the burst sizes here are the emulator's own choice, and every figure can
be tuned per emulator (:class:`RateLimits`). Slack's undocumented workspace-wide ceiling on
posting is not modelled. Limits are off unless a test switches them on
(``SlackEmulator(rate_limits=RateLimits())`` or ``slack.enable_rate_limits()``), and they
read the emulator's clock, so a :class:`ManualClock` refills them only
when the test moves it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

POST_MESSAGE = "chat.postMessage"


@dataclass(frozen=True)
class Tier:
    """``per_minute`` calls a minute, refilled evenly, of which ``burst`` may come at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"a tier needs a positive rate and a burst of 1 or more: {self}")


SLACK_TIERS: Mapping[int, Tier] = MappingProxyType(
    {1: Tier(1, 1), 2: Tier(20, 20), 3: Tier(50, 50), 4: Tier(100, 100)}
)
# The tiers of the methods the emulator answers, from Slack's method reference; methods Slack
# calls "special" without a figure (auth.test, chat.getPermalink) are treated as Tier 4.
METHOD_TIERS: Mapping[str, int] = MappingProxyType(
    {
        "api.test": 4,
        "apps.connections.open": 1,
        "auth.test": 4,
        "chat.delete": 3,
        "chat.getPermalink": 4,
        "chat.postEphemeral": 4,
        "chat.update": 3,
        "conversations.history": 3,
        "conversations.info": 3,
        "conversations.open": 3,
        "conversations.replies": 3,
        "usergroups.list": 2,
        "usergroups.users.list": 2,
        "users.info": 4,
        "users.list": 2,
        "views.open": 4,
        "views.publish": 4,
        "views.update": 4,
    }
)


@dataclass(frozen=True)
class RateLimits:
    """What the emulator enforces: Slack's tiers and ``chat.postMessage``'s per-channel rule.

    ``method_tiers`` names each method's tier (others get ``default_tier``); ``tiers`` gives
    each tier's rate and burst; ``post_message_per_second`` and ``post_message_burst`` shape
    ``chat.postMessage`` in each channel.
    """

    tiers: Mapping[int, Tier] = field(default_factory=lambda: SLACK_TIERS)
    method_tiers: Mapping[str, int] = field(default_factory=lambda: METHOD_TIERS)
    default_tier: int = 3
    post_message_per_second: float = 1.0
    post_message_burst: int = 3

    def bucket_of(self, method: str, channel: str | None) -> tuple[tuple[str, str], Tier]:
        """The bucket a call draws from (its key) and that bucket's shape."""
        if method == POST_MESSAGE:
            shape = Tier(self.post_message_per_second * 60, self.post_message_burst)
            return (method, channel or ""), shape
        return (method, ""), self.tiers[self.method_tiers.get(method, self.default_tier)]


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """Token buckets per method (and per channel for ``chat.postMessage``); thread-safe."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, method: str, channel: str | None = None) -> int | None:
        """Count one call: None if it may proceed, else the ``Retry-After`` in seconds."""
        key, tier = self.limits.bucket_of(method, channel)
        rate = tier.per_minute / 60.0  # tokens a second
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(key, _Bucket(float(tier.burst), now))
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(tier.burst), bucket.tokens + elapsed * rate)
            bucket.updated_at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))
