"""``SlackEmulator``: the local Slack the bot talks to in ``releasebot demo`` and in tests.

Start it (``with SlackEmulator() as slack`` or ``start()``/``stop()``), point the bot's
``WebClient(token=slack.bot_token, base_url=slack.api_url)`` at it, drive the bot with
``slack.driver(request_url, signing_secret)`` (HTTP mode) or ``slack.socket_driver()``
(Socket Mode, once the bot has connected with ``slack.app_token``), inject faults
(``slack.rate_limit(...)``, ``slack.answer_late(...)``), then read ``slack.calls(method)``
and ``slack.transcript(channel)``.

As Slack does, it keeps message metadata (``conversations.history`` / ``replies`` with
``include_all_metadata``), expires a ``trigger_id`` 3 seconds after the interaction
(``trigger_ttl``; None: never), and, once switched on (``rate_limits=RateLimits()`` or
:meth:`SlackEmulator.enable_rate_limits`), answers HTTP 429 past Slack's rate limits. All of it
runs on ``clock``: a :class:`ManualClock` lets a test expire a trigger or
refill a limit by moving time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from slack_sdk import WebClient

from bot.devtools.emulator.driver import ACK_WAIT_S, SignedHttp, SlackDriver, SocketModeLink
from bot.devtools.emulator.rate_limits import RateLimiter, RateLimits
from bot.devtools.emulator.seed import WorkspaceSeed, default_seed
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.socket_mode import SocketModeServer
from bot.devtools.emulator.state import (
    TRIGGER_TTL_S,
    ApiCall,
    EmulatorState,
    Ephemeral,
    Fault,
    Json,
    LateAnswer,
    Message,
    ResponseUrlPost,
    SocketEnvelope,
    View,
)
from bot.devtools.emulator.transcript import render_transcript

T = TypeVar("T")


class SlackEmulator:
    """A seeded workspace behind a real HTTP server on 127.0.0.1 (port 0: a free one)."""

    def __init__(
        self,
        seed: WorkspaceSeed | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        rate_limits: RateLimits | None = None,
        trigger_ttl: float | None = TRIGGER_TTL_S,
    ) -> None:
        self.state = EmulatorState(seed or default_seed(), clock=clock, trigger_ttl=trigger_ttl)
        self._server = EmulatorServer(self.state, host, port)
        self._socket_mode = SocketModeServer(self.state, host)
        if rate_limits is not None:
            self.enable_rate_limits(rate_limits)

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> SlackEmulator:
        self._server.start()
        self._socket_mode.start()
        return self

    def stop(self) -> None:
        with self.state.lock:
            for late in self.state.late_answers:
                late.release()
        self._socket_mode.stop()
        self._server.stop()

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the server must be started)."""
        return self._server.base_url

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return self.url + "/api/"

    @property
    def bot_token(self) -> str:
        return self.state.bot.token

    @property
    def bot_user_id(self) -> str:
        return self.state.bot.user_id

    def client(self, token: str | None = None, **kwargs: object) -> WebClient:
        """A ``WebClient`` pointed at the emulator (the bot's token by default)."""
        return WebClient(token=token or self.bot_token, base_url=self.api_url, **kwargs)  # type: ignore[arg-type]

    def driver(self, request_url: str, signing_secret: str) -> SlackDriver:
        """A driver that sends Slack's signed requests to the bot at ``request_url``."""
        return SlackDriver(self, SignedHttp(request_url, signing_secret))

    # ---- Socket Mode --------------------------------------------------------------------
    @property
    def app_token(self) -> str:
        """The app-level token (``xapp-``) the bot opens Socket Mode connections with."""
        return self.state.bot.app_token

    def socket_driver(self, ack_timeout: float = ACK_WAIT_S) -> SlackDriver:
        """A driver that sends Slack's requests as envelopes over the bot's Socket Mode
        connection (the newest one), waiting up to ``ack_timeout`` for each acknowledgement."""
        return SlackDriver(self, SocketModeLink(self._socket_mode, ack_timeout))

    def socket_connections(self) -> int:
        """How many Socket Mode connections the bot holds open."""
        return len(self._socket_mode.open_links())

    def socket_connections_opened(self) -> int:
        """How many Socket Mode connections the bot has opened since the emulator started."""
        with self.state.lock:
            return len(self._socket_mode.links)

    def wait_for_socket_connection(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the bot holds ``count`` Socket Mode connections (or more)."""
        self.wait_for(lambda: self.socket_connections() >= count, timeout)

    def refresh_socket_connections(
        self, reason: str = "refresh_requested", close_after: float | None = 10.0
    ) -> int:
        """Send Slack's ``disconnect`` message: the bot should reconnect. Returns how many
        connections were asked; those still open ``close_after`` seconds later are closed,
        as Slack closes them."""
        return self._socket_mode.refresh(reason, close_after)

    def send_envelope(
        self, kind: str, payload: Json, *, retry_attempt: int = 0, timeout: float = ACK_WAIT_S
    ) -> SocketEnvelope:
        """Send one Socket Mode envelope (``events_api``, ``slash_commands`` or
        ``interactive``) as it is, and wait up to ``timeout`` for its acknowledgement."""
        return self._socket_mode.deliver(
            kind, payload, retry_attempt=retry_attempt, timeout=timeout
        )

    def envelopes(self) -> list[SocketEnvelope]:
        """Every Socket Mode envelope sent to the bot, with its acknowledgement, oldest first."""
        with self.state.lock:
            return list(self.state.envelopes)

    # ---- rate limits --------------------------------------------------------------------
    def enable_rate_limits(self, limits: RateLimits | None = None) -> RateLimits:
        """Enforce Slack's rate limits from now on (``limits``: Slack's, see
        :mod:`bot.devtools.emulator.rate_limits`); every bucket starts full."""
        limits = limits or RateLimits()
        with self.state.lock:
            self.state.rate_limiter = RateLimiter(limits, self.state.now)
        return limits

    def disable_rate_limits(self) -> None:
        with self.state.lock:
            self.state.rate_limiter = None

    # ---- fault injection ----------------------------------------------------------------
    def rate_limit(
        self,
        method: str | None = None,
        times: int = 1,
        retry_after: int = 0,
        *,
        channel: str | None = None,
    ) -> Fault:
        """The next ``times`` calls of ``method`` (None: any), naming ``channel`` if given, get
        HTTP 429 ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After: retry_after``."""
        return self.inject(Fault(method, times, 429, "ratelimited", retry_after, channel))

    def server_error(self, method: str | None = None, times: int = 1, status: int = 500) -> Fault:
        """The next ``times`` calls of ``method`` get HTTP ``status`` (500 or 503)."""
        return self.inject(Fault(method, times, status))

    def slack_error(
        self, method: str | None = None, error: str = "fatal_error", times: int = 1
    ) -> Fault:
        """The next ``times`` calls of ``method`` get ``{"ok": false, "error": error}``."""
        return self.inject(Fault(method, times, 200, error))

    def inject(self, fault: Fault) -> Fault:
        """Add a fault; method ``"response_url"`` targets the response_url endpoint."""
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def answer_late(
        self,
        method: str,
        seconds: float | None = None,
        times: int = 1,
        *,
        channel: str | None = None,
    ) -> LateAnswer:
        """The next ``times`` successful calls of ``method`` (naming ``channel``, if given)
        take effect at once, but their answer is held back ``seconds`` (wall time), or until
        ``release()`` when None: an answer lost or arriving after the client's timeout."""
        late = LateAnswer(method, times, seconds, channel)
        with self.state.lock:
            self.state.late_answers.append(late)
        return late

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            for late in self.state.late_answers:
                late.release()
            self.state.late_answers.clear()

    # ---- reading what happened ----------------------------------------------------------
    def calls(self, method: str | None = None) -> list[ApiCall]:
        """The Web API call log (every request, failed ones too), oldest first."""
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def messages(self, channel: str, *, replies: bool = True) -> list[Message]:
        """The channel's messages as they are now (edited ones in their latest version)."""
        with self.state.lock:
            shown = [m for m in self.state.messages.get(channel, []) if not m.deleted]
            return shown if replies else [m for m in shown if not m.is_reply]

    def messages_with_metadata(self, channel: str, event_type: str | None = None) -> list[Message]:
        """The channel's messages and replies that carry metadata (of ``event_type``)."""
        return [
            m for m in self.messages(channel)
            if m.metadata is not None and event_type in (None, m.metadata["event_type"])
        ]  # fmt: skip

    def latest_message(self, channel: str) -> Message | None:
        shown = self.messages(channel)
        return shown[-1] if shown else None

    def thread(self, channel: str, root_ts: str) -> list[Message]:
        return self.state.thread(channel, root_ts)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        with self.state.lock:
            return [
                e for e in self.state.ephemerals
                if user in (None, e.user) and channel in (None, e.channel)
            ]  # fmt: skip

    def responses(self) -> list[ResponseUrlPost]:
        """Every ``response_url`` post the bot made (body, response_type, context)."""
        with self.state.lock:
            return list(self.state.response_posts)

    def views(self, user: str | None = None) -> list[View]:
        """Modals opened with ``views.open`` (for ``user``), oldest first."""
        with self.state.lock:
            return [v for v in self.state.views.values() if user in (None, v.user)]

    def home_view(self, user: str) -> View | None:
        """The App Home published for ``user`` (``views.publish``), if any."""
        with self.state.lock:
            return self.state.home_views.get(user)

    def transcript(self, channel: str, *, include_ephemeral: bool = False) -> str:
        """The channel as a person reads it (see :mod:`bot.devtools.emulator.transcript`)."""
        return render_transcript(self.state, channel, include_ephemeral=include_ephemeral)

    # ---- waiting for the bot's work after its ack ---------------------------------------
    def wait_for(self, condition: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``condition()`` is truthy; raises ``TimeoutError``."""
        return self.state.wait_for(condition, timeout)

    def wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 5.0, *, ok: bool | None = None
    ) -> list[ApiCall]:
        """Wait until ``method`` was called ``count`` times (only ok or failed ones if set)."""

        def matching() -> list[ApiCall]:
            found = [c for c in self.calls(method) if ok is None or c.response.get("ok") is ok]
            return found if len(found) >= count else []

        return self.wait_for(matching, timeout)
