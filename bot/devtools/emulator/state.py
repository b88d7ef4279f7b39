"""The emulated workspace in memory: messages, threads, edits, ephemerals, views, the call log.

Every method that reads or changes the state takes ``self.lock`` (re-entrant), and every change
notifies waiters, so tests can :meth:`EmulatorState.wait_for` what the bot does after its ack.
Time is read from one clock (``clock``, the wall clock unless a test gives a
:class:`ManualClock`): message timestamps, the age of ``trigger_id`` values
(Slack honours them for ``trigger_ttl`` = 3 seconds) and, when switched on, the rate limits.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bot.devtools.emulator.rate_limits import RateLimiter
from bot.devtools.emulator.records import (
    ApiCall,
    Ephemeral,
    Fault,
    Json,
    LateAnswer,
    Message,
    MessageVersion,
    ResponseUrlPost,
    SocketEnvelope,
    Trigger,
    View,
)
from bot.devtools.emulator.seed import SeedChannel, SeedGroup, SeedUser, WorkspaceSeed

T = TypeVar("T")
__all__ = [  # the state, and its records importable from here as before
    "TRIGGER_TTL_S",
    "ApiCall",
    "EmulatorState",
    "Ephemeral",
    "Fault",
    "Json",
    "LateAnswer",
    "Message",
    "MessageVersion",
    "ResponseUrlPost",
    "SocketEnvelope",
    "Trigger",
    "View",
]
# Slack: "Triggers expire in three seconds. Use it before you lose it."
TRIGGER_TTL_S = 3.0


class EmulatorState:
    """The workspace and everything that happened in it; thread-safe."""

    def __init__(
        self,
        seed: WorkspaceSeed,
        clock: Callable[[], float] | None = None,
        *,
        trigger_ttl: float | None = TRIGGER_TTL_S,
    ) -> None:
        self.seed = seed
        self.bot = seed.bot
        self.team_id, self.domain = seed.team_id, seed.domain
        self.users: dict[str, SeedUser] = dict(seed.users)
        self.users[seed.bot.user_id] = SeedUser(
            seed.bot.user_id, seed.bot.name, seed.bot.name, True, seed.bot.bot_id
        )
        self.groups: dict[str, SeedGroup] = dict(seed.groups)
        self.channels: dict[str, SeedChannel] = dict(seed.channels)
        self.tokens: dict[str, str] = {seed.bot.token: seed.bot.user_id, **seed.user_tokens}
        # App-level tokens (``xapp-``) and the app each one belongs to.
        self.app_tokens: dict[str, str] = {seed.bot.app_token: seed.bot.app_id}
        self.socket_url: str | None = None  # ``ws://HOST:PORT`` while Socket Mode is served
        self.socket_tickets: set[str] = set()
        self.envelopes: list[SocketEnvelope] = []
        self.messages: dict[str, list[Message]] = {cid: [] for cid in self.channels}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.home_views: dict[str, View] = {}
        self.triggers: dict[str, Trigger] = {}
        self.trigger_ttl = trigger_ttl  # None: triggers never expire
        self.response_urls: dict[str, Json] = {}
        self.response_posts: list[ResponseUrlPost] = []
        self.calls: list[ApiCall] = []
        self.faults: list[Fault] = []
        self.late_answers: list[LateAnswer] = []
        self.rate_limiter: RateLimiter | None = None  # None: no rate limits (the default)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._clock = clock or time.time
        self._last_micros = 0
        self._ids = itertools.count(1)

    # ---- ids and time -------------------------------------------------------------------
    def now(self) -> float:
        return self._clock()

    def next_ts(self) -> str:
        """A unique, increasing message timestamp such as ``"1732270000.000100"``."""
        with self.lock:
            micros = max(int(self._clock() * 1_000_000), self._last_micros + 100)
            self._last_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        """A fresh Slack-looking id, e.g. ``V0EMU00007``."""
        return f"{prefix}0EMU{next(self._ids):05d}"

    def issue_trigger(self, user: str) -> str:
        """A ``trigger_id`` for ``user``, valid for ``trigger_ttl`` seconds from now, once."""
        with self.lock:
            now = self.now()
            trigger = f"{next(self._ids)}.{int(now)}.{secrets.token_hex(16)}"
            self.triggers[trigger] = Trigger(user, now)
            return trigger

    def issue_socket_ticket(self) -> str:
        """A one-use ticket for a Socket Mode connection (``apps.connections.open``)."""
        with self.lock:
            ticket = secrets.token_hex(16)
            self.socket_tickets.add(ticket)
            return ticket

    def issue_response_url(self, base_url: str, **context: Any) -> str:
        """A ``response_url`` on this emulator, remembering what it answers (channel, user...)."""
        with self.lock:
            url_id = secrets.token_hex(12)
            self.response_urls[url_id] = context
            return f"{base_url}/response_url/{url_id}"

    # ---- lookups ------------------------------------------------------------------------
    def resolve_channel(self, channel: str) -> str | None:
        """A channel id from an id, a ``#name``/name, or a user id (their DM with the bot)."""
        with self.lock:
            if channel in self.channels:
                return channel
            name = channel.removeprefix("#")
            for found in self.channels.values():
                if found.name == name:
                    return found.id
            if channel in self.users:
                dm_id = "D" + channel[1:]
                self.channels.setdefault(dm_id, SeedChannel(dm_id, f"dm-{channel}"))
                self.messages.setdefault(dm_id, [])
                return dm_id
            return None

    def find_message(self, channel: str, ts: str) -> Message | None:
        with self.lock:
            for message in self.messages.get(channel, []):
                if message.ts == ts and not message.deleted:
                    return message
            return None

    def thread(self, channel: str, root_ts: str) -> list[Message]:
        """The root message and its replies, oldest first (empty if there is no such root)."""
        with self.lock:
            root = self.find_message(channel, root_ts)
            if root is None:
                return []
            replies = [
                m
                for m in self.messages[channel]
                if m.thread_ts == root_ts and m.is_reply and not m.deleted
            ]
            return [root, *replies]

    def display_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.name if user else user_id

    # ---- changes ------------------------------------------------------------------------
    def add_message(self, channel: str, user: str, text: str, **fields: Any) -> Message:
        """Store a new message (from the bot or a person) with a fresh ts.

        A ``thread_ts`` naming a reply threads under that reply's root, as in Slack.
        """
        with self.lock:
            author = self.users.get(user)
            if author is not None and author.is_bot and "bot_id" not in fields:
                fields["bot_id"] = author.bot_id
                fields["app_id"] = self.bot.app_id if user == self.bot.user_id else None
            if fields.get("thread_ts"):
                root = self.find_message(channel, fields["thread_ts"])
                if root is None:
                    raise LookupError(f"no message {fields['thread_ts']} in {channel}")
                root.thread_ts = fields["thread_ts"] = root.thread_ts or root.ts
            message = Message(channel=channel, ts=self.next_ts(), user=user, text=text, **fields)
            self.messages.setdefault(channel, []).append(message)
            self.changed.notify_all()
            return message

    def edit_message(
        self,
        message: Message,
        text: str | None,
        blocks: list[Json] | None,
        metadata: Json | None = None,
    ) -> None:
        """Replace a message's text/blocks/metadata (None: keep), keeping the previous version
        in ``edits``."""
        with self.lock:
            edited_ts = self.next_ts()
            previous = MessageVersion(message.text, message.blocks, edited_ts, message.metadata)
            message.edits.append(previous)
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = blocks
            if metadata is not None:
                message.metadata = metadata
            message.edited_ts = edited_ts
            self.changed.notify_all()

    def add_ephemeral(
        self, channel: str, user: str, text: str, blocks: list[Json], thread_ts: str | None
    ) -> Ephemeral:
        with self.lock:
            ephemeral = Ephemeral(
                channel, user, self.next_ts(), text, blocks, self.bot.user_id, thread_ts
            )
            self.ephemerals.append(ephemeral)
            self.changed.notify_all()
            return ephemeral

    def record(self, entry: ApiCall | ResponseUrlPost) -> None:
        with self.lock:
            if isinstance(entry, ApiCall):
                self.calls.append(entry)
            else:
                self.response_posts.append(entry)
            self.changed.notify_all()

    def take_fault(self, method: str, channel: str | None = None) -> Fault | None:
        """The first pending fault matching ``method`` (and ``channel``, the call's channel
        id if it names one), with one use consumed."""
        with self.lock:
            for fault in self.faults:
                if fault.remaining <= 0 or fault.method not in (None, method):
                    continue
                if fault.channel is not None and self._channel_id(fault.channel) != channel:
                    continue
                fault.remaining -= 1
                return fault
            return None

    def take_late_answer(self, method: str, channel: str | None = None) -> LateAnswer | None:
        """The first pending late answer for ``method`` (and ``channel``), one use consumed."""
        with self.lock:
            for late in self.late_answers:
                if late.remaining <= 0 or late.method != method:
                    continue
                if late.channel is not None and self._channel_id(late.channel) != channel:
                    continue
                late.remaining -= 1
                return late
            return None

    def _channel_id(self, channel: str) -> str:
        return self.resolve_channel(channel) or channel

    def wait_for(self, condition: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until ``condition()`` is truthy (re-checked on every change); return it.

        Raises ``TimeoutError`` if it is still falsy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (result := condition()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the emulator did not reach the expected state")
                self.changed.wait(min(remaining, 0.1))
            return result
