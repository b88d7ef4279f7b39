"""The whole bot against the local Slack emulator: for ``releasebot demo`` and the end-to-end
tests. Real HTTP both ways: the driver sends signed requests to the bot's ``/slack/events``,
and the bot's Web API calls go to the emulator. With ``socket_mode=True`` the bot connects to
the emulator over Socket Mode, as ``releasebot serve --socket`` does, and the driver sends
the same requests as envelopes on that connection instead."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.bootstrap import Runtime, build
from bot.clock import Clock, utc_now
from bot.config import Settings, load_settings
from bot.devtools.emulator import SlackDriver, SlackEmulator, WorkspaceSeed, default_seed
from bot.devtools.emulator.sign_in import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bot.resources import shipped
from bot.slack.socket_mode import MeasuredSocketModeHandler
from bot.store import session_scope
from bot.store.outbox import pending_job_count
from bot.web.server import DEFAULT_THREADS, BackgroundServer

SIGNING_SECRET = "sandbox-signing-secret-0123456789"
HOOK_TOKEN = "sandbox-hook-token-0123456789"
# The web pages: the emulator's Sign in with Slack client, and secrets for sessions and automation.
SESSION_SECRET = "sandbox-session-secret-0123456789abcdef"
WEB_TOKEN = "sandbox-web-token-0123456789abcdefghij"


@dataclass
class Sandbox:
    """A started emulator, bot runtime and HTTP server; stop() ends all three."""

    slack: SlackEmulator
    runtime: Runtime
    server: BackgroundServer
    driver: SlackDriver
    settings: Settings
    socket_handler: MeasuredSocketModeHandler | None = None
    _stopped: bool = field(default=False)

    @classmethod
    def start(
        cls,
        *,
        database_url: str,
        runbooks_dir: Path | None = None,
        templates_dir: Path | None = None,
        seed: WorkspaceSeed | None = None,
        clock: Clock = utc_now,
        emulator_clock: Any = None,
        slack: SlackEmulator | None = None,
        socket_mode: bool = False,
        pace_slack: bool = False,
    ) -> Sandbox:
        """``pace_slack``: shape the bot's Slack calls to Slack's rates (``bot.slack.pacing``),
        as ``serve`` always does. Off by default, like the emulator's rate limits: at one
        post a second per channel, a story's timings would be the pacing's, and on a clock
        that only the test moves the fourth post to a channel would wait for the test."""
        slack = slack or SlackEmulator(seed or default_seed(), clock=emulator_clock).start()
        settings = load_settings(
            database_url=database_url,
            runbooks_dir=runbooks_dir or shipped("runbooks"),
            templates_dir=templates_dir or shipped("templates"),
            slack_api_url=slack.api_url,
            slack_bot_token=slack.bot_token,
            slack_signing_secret=SIGNING_SECRET,
            hook_token=HOOK_TOKEN,
            slack_app_token=slack.app_token if socket_mode else None,
            slack_client_id=DEFAULT_CLIENT_ID,
            slack_client_secret=DEFAULT_CLIENT_SECRET,
            session_secret=SESSION_SECRET,
            web_token=WEB_TOKEN,
        )
        runtime = build(settings, clock=clock, socket_mode=socket_mode)
        runtime.delivery.pacing.shape_calls = pace_slack
        runtime.start()
        server = BackgroundServer(runtime.web_app).start()
        driver = slack.driver(server.url + "/slack/events", SIGNING_SECRET)
        sandbox = cls(slack=slack, runtime=runtime, server=server, driver=driver, settings=settings)
        if socket_mode:
            sandbox.socket_handler = MeasuredSocketModeHandler(
                runtime.bolt_app, slack.app_token, runtime.metrics, workers=DEFAULT_THREADS,
                on_refused=runtime.tell_refusal,
            )
            sandbox.socket_handler.connect()  # type: ignore[no-untyped-call]
            slack.wait_for_socket_connection()
            sandbox.driver = slack.socket_driver()
        return sandbox

    def restart(self, *, clock: Clock = utc_now) -> Sandbox:
        """Stop the bot (not Slack) and start a new one on the same database."""
        self.stop(keep_slack=True)
        return Sandbox.start(
            database_url=self.settings.database_url,
            runbooks_dir=self.settings.runbooks_dir,
            templates_dir=self.settings.templates_dir,
            clock=clock,
            slack=self.slack,
            socket_mode=self.socket_handler is not None,
        )

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every queued Slack job has been delivered (or has failed for good)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.runtime.services.wake()
            with session_scope(self.runtime.engine) as session:
                if pending_job_count(session) == 0:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"Slack work still queued after {timeout:.1f} s")

    def post_samples(
        self, runbook_id: str, samples: Sequence[tuple[str, float, datetime]]
    ) -> dict[str, Any]:
        """POST ``(metric, value, at)`` samples to ``/hooks/metrics``, as monitoring does;
        returns the hook's JSON answer."""
        body = {
            "runbook": runbook_id,
            "samples": [
                {"metric": metric, "value": value, "at": at.isoformat()}
                for metric, value, at in samples
            ],
        }
        request = urllib.request.Request(
            f"{self.server.url}/hooks/metrics",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def now(self) -> datetime:
        return self.runtime.services.clock()

    def stop(self, *, keep_slack: bool = False) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.socket_handler is not None:
            self.socket_handler.close()  # type: ignore[no-untyped-call]
        self.server.stop()
        self.runtime.stop()
        if not keep_slack:
            self.slack.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
