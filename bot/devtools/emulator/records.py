"""The records of the emulated workspace: messages and their versions, ephemerals, views,
the Web API call log, ``response_url`` posts, Socket Mode envelopes, triggers and faults.

Plain dataclasses; :class:`EmulatorState` holds them and guards them with
its lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass
class MessageVersion:
    """One earlier version of an edited message."""

    text: str
    blocks: list[Json]
    replaced_at: str
    metadata: Json | None = None


@dataclass
class Message:
    """A message in a channel; a thread reply has ``thread_ts`` set to its root's ts.

    ``metadata`` is the message metadata an app attached (``{"event_type", "event_payload"}``).
    """

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Json] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    reply_broadcast: bool = False
    edits: list[MessageVersion] = field(default_factory=list)
    edited_ts: str | None = None
    deleted: bool = False
    metadata: Json | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_slack(self, team_id: str, *, include_metadata: bool = False) -> Json:
        """The message as Slack's Web API and payloads show it; its ``metadata`` only when
        asked (``include_all_metadata``, or the poster's own answer)."""
        shown: Json = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        shown["team"] = team_id
        if self.bot_id:
            shown.update(bot_id=self.bot_id, app_id=self.app_id)
        if self.blocks:
            shown["blocks"] = self.blocks
        if self.thread_ts:
            shown["thread_ts"] = self.thread_ts
        if self.edited_ts:
            shown["edited"] = {"user": self.user, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            shown["metadata"] = self.metadata
        return shown


@dataclass
class Ephemeral:
    """A message only ``user`` sees (``chat.postEphemeral`` or an ephemeral response)."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[Json]
    author: str
    thread_ts: str | None = None


@dataclass
class View:
    """A modal opened with a trigger, or a user's App Home; ``history`` holds earlier views."""

    id: str
    kind: str  # "modal" or "home"
    user: str | None
    view: Json
    history: list[Json] = field(default_factory=list)
    closed: bool = False


@dataclass
class ApiCall:
    """One Web API request the emulator answered."""

    method: str
    args: Json
    at: float
    status: int
    response: Json
    token: str | None = None


@dataclass
class ResponseUrlPost:
    """One request to a ``response_url``, with the context it was issued for."""

    url_id: str
    context: Json
    body: Json
    at: float

    @property
    def response_type(self) -> str:
        return str(self.body.get("response_type") or "ephemeral")


@dataclass
class SocketEnvelope:
    """One request sent to the bot over Socket Mode, and its acknowledgement if it came."""

    envelope: Json
    sent_at: float
    acked_at: float | None = None
    ack: Json | None = None

    @property
    def envelope_id(self) -> str:
        return str(self.envelope["envelope_id"])


@dataclass
class Trigger:
    """A ``trigger_id`` given to ``user`` at ``issued_at`` (the state's clock); one use only."""

    user: str
    issued_at: float
    exchanged: bool = False


@dataclass
class Fault:
    """Answer the next ``remaining`` calls of ``method`` (None: any) with a failure; with
    ``channel``, only calls naming that channel (an id, a ``#name``, or a user's DM)."""

    method: str | None
    remaining: int
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    channel: str | None = None


@dataclass
class LateAnswer:
    """Do the next ``remaining`` calls of ``method`` (naming ``channel``, if given), then hold
    each answer back: ``seconds`` of wall time, or until :meth:`release` when None. The
    effect happens at once, as when Slack's answer is lost or comes after the client's
    timeout; ``applied`` is set once a held call has taken effect."""

    method: str
    remaining: int
    seconds: float | None = None
    channel: str | None = None
    applied: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Send the held answers now (to a caller still waiting, if any)."""
        self.released.set()

    def hold(self, longest: float) -> None:
        """Wait as this answer says, never longer than ``longest`` seconds."""
        wait = longest if self.seconds is None else min(self.seconds, longest)
        self.released.wait(wait)
