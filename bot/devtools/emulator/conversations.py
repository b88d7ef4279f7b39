"""The ``conversations.*`` methods: a channel's history, a thread's replies, info, DMs.

``conversations.history`` and ``conversations.replies`` follow Slack's reference:

- ``oldest`` / ``latest`` bound the messages by timestamp, exclusive unless ``inclusive``
  (``invalid_ts_oldest`` / ``invalid_ts_latest`` when they are not timestamps);
- ``limit`` (history: default 100, at most 999; replies: default and at most 1,000) pages the
  result, and a page with more behind it says ``has_more: true`` with
  ``response_metadata.next_cursor``, which the next call passes as ``cursor`` (Slack's own
  format, ``base64("next_ts:<ts in microseconds>")``; anything else is ``invalid_cursor``);
- history lists the channel's messages newest first (thread replies only when broadcast),
  replies a thread oldest first: the parent, then its replies. Replies are bounded by
  ``oldest`` / ``latest``; the parent always opens the first page and is not repeated on the
  next ones. ``ts`` may name the parent or any reply; an unknown one is ``thread_not_found``;
- a message's ``metadata`` is shown only with ``include_all_metadata=true``.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.devtools.emulator.calls import Method, SlackError, channel_of, flag, registry
from bot.devtools.emulator.state import EmulatorState, Json, Message

METHODS: dict[str, Method] = {}
method = registry(METHODS)

HISTORY_LIMIT = (100, 999)  # default, most
REPLIES_LIMIT = (1000, 1000)
CURSOR_PREFIX = "next_ts:"


@method("conversations.info")
def conversations_info(state: EmulatorState, args: Json, caller: str) -> Json:
    channel = state.channels[channel_of(state, args)]
    is_dm = channel.id.startswith("D")
    shown = {"id": channel.id, "name": channel.name, "is_channel": not is_dm}
    shown.update(is_im=is_dm, is_private=False, is_archived=False, is_member=True)
    return {"channel": shown}


@method("conversations.open")
def conversations_open(state: EmulatorState, args: Json, caller: str) -> Json:
    users = str(args.get("users") or "").split(",")
    if len(users) != 1 or state.resolve_channel(users[0]) is None or users[0][:1] != "U":
        raise SlackError("user_not_found")
    return {"channel": {"id": state.resolve_channel(users[0])}}


@method("conversations.history")
def conversations_history(state: EmulatorState, args: Json, caller: str) -> Json:
    channel, listing = channel_of(state, args), Listing.of(args, *HISTORY_LIMIT)
    with state.lock:
        threads = Threads(state, channel, include_metadata=listing.include_metadata)
        roots = [m for m in threads.messages if not m.is_reply or m.reply_broadcast]
        listed = [m for m in reversed(roots) if listing.window.holds(m.ts)]
        if listing.cursor is not None:
            listed = [m for m in listed if micros(m.ts) <= listing.cursor]
        answer = listing.page(listed, threads)
    answer["pin_count"] = 0
    if args.get("latest") not in (None, ""):
        answer["latest"] = str(args["latest"])
    return answer


@method("conversations.replies")
def conversations_replies(state: EmulatorState, args: Json, caller: str) -> Json:
    channel, listing = channel_of(state, args), Listing.of(args, *REPLIES_LIMIT)
    with state.lock:
        threads = Threads(state, channel, include_metadata=listing.include_metadata)
        found = threads.by_ts.get(str(args.get("ts") or ""))
        if found is None:
            raise SlackError("thread_not_found")
        parent = threads.by_ts.get(found.thread_ts or found.ts, found)
        replies = [m for m in threads.replies[parent.ts] if listing.window.holds(m.ts)]
        if listing.cursor is None:
            listed = [parent, *replies]
        else:
            listed = [m for m in replies if micros(m.ts) >= listing.cursor]
        return listing.page(listed, threads)


class Threads:
    """A channel's shown messages, indexed by ts and by thread, read once per call."""

    def __init__(self, state: EmulatorState, channel: str, *, include_metadata: bool) -> None:
        self.team_id, self.include_metadata = state.team_id, include_metadata
        self.messages = [m for m in state.messages[channel] if not m.deleted]
        self.by_ts = {m.ts: m for m in self.messages}
        self.replies: defaultdict[str, list[Message]] = defaultdict(list)
        for message in self.messages:
            if message.is_reply:
                self.replies[str(message.thread_ts)].append(message)

    def render(self, message: Message) -> Json:
        """A message as history and replies show it: a thread's parent with its replies'
        summary, a reply with its parent's author."""
        shown = message.to_slack(self.team_id, include_metadata=self.include_metadata)
        if message.is_reply:
            parent = self.by_ts.get(str(message.thread_ts))
            if parent is not None:
                shown["parent_user_id"] = parent.user
        elif replies := self.replies.get(message.ts):
            users = list(dict.fromkeys(reply.user for reply in replies))
            shown.update(reply_count=len(replies), reply_users_count=len(users))
            shown.update(reply_users=users, latest_reply=replies[-1].ts)
        return shown


def micros(ts: str) -> int:
    """A Slack timestamp (``"1512085950.000216"``, or a plain Unix time) in microseconds."""
    value = Decimal(ts)
    if not value.is_finite() or value < 0:
        raise InvalidOperation(ts)
    return int(value * 1_000_000)


def encode_cursor(ts: str) -> str:
    return base64.b64encode(f"{CURSOR_PREFIX}{micros(ts)}".encode()).decode()


def cursor_micros(args: Json) -> int | None:
    """The position a ``cursor`` argument names, or None without one."""
    cursor = str(args.get("cursor") or "")
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise SlackError("invalid_cursor") from error
    position = decoded.removeprefix(CURSOR_PREFIX)
    if position == decoded or not position.isdigit():
        raise SlackError("invalid_cursor")
    return int(position)


def page_limit(args: Json, default: int, most: int) -> int:
    raw = args.get("limit")
    if raw in (None, ""):
        return default
    try:
        limit = int(str(raw))
    except ValueError as error:
        raise SlackError("invalid_limit") from error
    return default if limit <= 0 else min(limit, most)


@dataclass(frozen=True)
class Listing:
    """What a call asks to list: its bounds, page size, cursor position and metadata."""

    window: Window
    limit: int
    cursor: int | None
    include_metadata: bool

    @classmethod
    def of(cls, args: Json, default_limit: int, most: int) -> Listing:
        window, limit = Window.of(args), page_limit(args, default_limit, most)
        return cls(window, limit, cursor_micros(args), flag(args, "include_all_metadata"))

    def page(self, listed: list[Message], threads: Threads) -> Json:
        """This page of ``listed``, ``has_more`` and the cursor of the first one left out."""
        has_more = len(listed) > self.limit
        next_cursor = encode_cursor(listed[self.limit].ts) if has_more else ""
        return {
            "messages": [threads.render(message) for message in listed[: self.limit]],
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }


class Window:
    """The ``oldest`` / ``latest`` / ``inclusive`` bounds of a call, in microseconds."""

    def __init__(self, oldest: int | None, latest: int | None, inclusive: bool) -> None:
        self.oldest, self.latest, self.inclusive = oldest, latest, inclusive

    @classmethod
    def of(cls, args: Json) -> Window:
        return cls(_bound(args, "oldest"), _bound(args, "latest"), flag(args, "inclusive"))

    def holds(self, ts: str) -> bool:
        at = micros(ts)
        if self.oldest is not None and not _after(at, self.oldest, self.inclusive):
            return False
        return self.latest is None or _after(self.latest, at, self.inclusive)


def _after(later: int, earlier: int, inclusive: bool) -> bool:
    return later > earlier or (inclusive and later == earlier)


def _bound(args: Json, name: str) -> int | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        return micros(str(raw))
    except (InvalidOperation, ValueError) as error:
        raise SlackError(f"invalid_ts_{name}") from error
