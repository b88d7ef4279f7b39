"""PostgreSQL goes silent under `releasebot serve` (a child process, as in production): the
TCP proxy between them stops forwarding without closing anything.

Clicks during the silence are answered within bounds (500: not recorded), `/healthz` turns
503 saying what is stuck, and once PostgreSQL can be reached again (the path thaws, or the
bot reconnects past the dead connections) the bot answers 200 again, healthy, without a
restart; every click answered 200 is recorded once, and nothing twice. The test prints the
time the bot took to notice and to recover (no timing is asserted: the driver's own 10 s
timeout is the only bound, and a click that outlived it fails the test).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.devtools.emulator import SlackDriver, SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.store import make_engine, read_connection, trail_for_subject, verify_trail
from tests.slack.freezing_proxy import FreezingProxy
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING, RANKING_GATES, RELEASE, RUNBOOKS

TEMPLATES = RUNBOOKS.parent / "templates"
DATABASE_TIMEOUT_S = 2.0  # statement timeout; the client waits 2 s more for an answer
ANSWER_TIMEOUT_S = 2.5


@dataclass
class StalledBot:
    slack: SlackEmulator
    driver: SlackDriver
    proxy: FreezingProxy
    process: subprocess.Popen[bytes]
    engine: Engine  # straight to PostgreSQL, past the proxy
    url: str
    log: Path
    answers: list[tuple[str, int, float]] = field(default_factory=list)

    def health(self) -> tuple[int, dict[str, str]]:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_for_health(self, status: int, timeout: float = 30.0) -> tuple[float, dict[str, str]]:
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            got, body = self.health()
            if got == status:
                return time.monotonic() - began, body
            time.sleep(0.05)
        raise AssertionError(f"/healthz never answered {status}: {self.health()}")

    def pass_gate(self, gate: str, user: str) -> int:
        """``user`` presses Pass on ``gate``; the answer's status (200 is the gate's
        button is gone: it was recorded already)."""
        try:
            self.driver.find_button(RANKING, "Pass", match=gate)
        except LookupError:
            return 200
        began = time.monotonic()
        status = self.driver.click(user, RANKING, "Pass", match=gate).status
        self.answers.append((gate, status, time.monotonic() - began))
        return status

    def offered(self, label: str) -> bool:
        try:
            return bool(self.driver.find_button(RANKING, label))
        except LookupError:
            return False

    def approve(self, user: str) -> int:
        began = time.monotonic()
        status = self.driver.click(user, RANKING, "Approve").status
        self.answers.append((f"approve by {user}", status, time.monotonic() - began))
        return status

    def approvals(self) -> Counter[str]:
        with read_connection(self.engine) as connection:
            events = trail_for_subject(connection, subject=RELEASE)
        return Counter(e.actor for e in events if e.kind == "approval.approve")

    def passed(self) -> Counter[str]:
        with read_connection(self.engine) as connection:
            events = trail_for_subject(connection, subject=RELEASE)
        return Counter(e.payload.get("gate", "") for e in events if e.kind == "gate.passed")


@pytest.fixture
def stalled_bot(database_url: str, tmp_path: Path) -> Iterator[StalledBot]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a silent network connection is PostgreSQL's failure (SQLite is a file)")
    proxy = FreezingProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": proxied,
        "RELEASEBOT_DATABASE_TIMEOUT": str(DATABASE_TIMEOUT_S),
        "RELEASEBOT_ANSWER_TIMEOUT": str(ANSWER_TIMEOUT_S),
        "RELEASEBOT_RUNBOOKS": str(RUNBOOKS),
        "RELEASEBOT_TEMPLATES": str(TEMPLATES),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    log, port = tmp_path / "serve.log", free_port()
    process = serve(env, port, log)
    engine = make_engine(database_url)
    bot_url = f"http://127.0.0.1:{port}"
    try:
        yield StalledBot(
            slack, slack.driver(f"{bot_url}/slack/events", SIGNING_SECRET), proxy, process,
            engine, bot_url, log,
        )  # fmt: skip
    finally:
        proxy.thaw()
        stop(process)
        engine.dispose()
        proxy.stop()
        slack.stop()


def first_gate_passed(bot: StalledBot) -> list[tuple[str, str]]:
    """A review started and its first gate passed, before anything goes wrong; its gates."""
    start_review(bot)
    gates = list(RANKING_GATES)
    assert bot.pass_gate(*gates[0]) == 200
    return gates


def start_review(bot: StalledBot) -> None:
    answer = bot.driver.slash_command("U0ALICE", RANKING, "/release", "start ranking-model v2.4.0")
    assert answer.status == 200

    def offered() -> bool:
        try:
            return bool(bot.driver.find_button(RANKING, "Pass", match="eval-metrics"))
        except LookupError:
            return False

    bot.slack.wait_for(offered, 10)


def assert_each_gate_recorded_once(bot: StalledBot) -> None:
    passed = bot.passed()
    assert passed == Counter(gate for gate, _ in RANKING_GATES), passed
    answered_200 = {gate for gate, status, _ in bot.answers if status == 200 and "by" not in gate}
    assert answered_200 <= set(passed)  # every click answered 200 is recorded
    assert all(status in (200, 500) for _, status, _ in bot.answers), bot.answers
    assert verify_trail(bot.engine).intact


def test_a_partition_stalls_clicks_within_bounds_and_the_bot_recovers_after_it(
    stalled_bot: StalledBot,
) -> None:
    bot = stalled_bot
    gates = first_gate_passed(bot)

    bot.proxy.freeze(new_too=True)  # the path to PostgreSQL is gone, for old links and new
    frozen_at = time.monotonic()
    noticed, unhealthy = bot.wait_for_health(503)
    assert unhealthy["status"] == "unhealthy" and unhealthy["reason"]
    during = [bot.pass_gate(*gate) for gate in gates[1:3]]
    assert set(during) == {500}, bot.answers
    # long enough for every bound to have fired: the old connections are closed by then
    time.sleep(max(0.0, 2 * (DATABASE_TIMEOUT_S + 2) - (time.monotonic() - frozen_at)))

    bot.proxy.thaw()
    recovered, body = bot.wait_for_health(200)
    assert set(body.values()) == {"ok"}
    for gate in gates[1:]:
        assert bot.pass_gate(*gate) == 200
    assert_each_gate_recorded_once(bot)

    # a vote is recorded by the group commit's writer: stuck on a silent link, it says so
    bot.slack.wait_for(lambda: bot.offered("Approve"), 10)
    bot.proxy.freeze(new_too=True)
    voted: list[int] = []
    voting = threading.Thread(target=lambda: voted.append(bot.approve("U0BRUNO")))
    voting.start()
    stuck_detail = ""
    while voting.is_alive() or not stuck_detail:
        status, body = bot.health()
        if "stuck" in body.get("writer", ""):
            stuck_detail = body["writer"]
        if not voting.is_alive() and time.monotonic() - frozen_at > 120:
            break
    voting.join()
    assert voted == [500] and stuck_detail.startswith("stuck:"), (voted, stuck_detail)
    time.sleep(2 * (DATABASE_TIMEOUT_S + 2))
    bot.proxy.thaw()
    writer_back, _ = bot.wait_for_health(200)
    assert bot.approve("U0BRUNO") == 200
    assert bot.approve("U0CHIARA") == 200
    assert bot.approvals() == Counter({"U0BRUNO": 1, "U0CHIARA": 1})
    assert verify_trail(bot.engine).intact
    print(
        f"\npartition: clicks answered in {', '.join(f'{s:.2f} s' for _, _, s in bot.answers)}"
        f"; /healthz 503 {noticed:.2f} s after the freeze ({unhealthy['reason']})"
        f"; healthy {recovered:.2f} s after the thaw; a vote during a second freeze answered "
        f"500 while /healthz said writer: {stuck_detail}; healthy {writer_back:.2f} s after "
        "that thaw"
    )


def test_dead_connections_are_dropped_and_the_bot_reconnects_without_a_restart(
    stalled_bot: StalledBot,
) -> None:
    bot = stalled_bot
    gates = first_gate_passed(bot)

    bot.proxy.freeze()  # every open connection goes silent; new ones get through
    frozen_at = time.monotonic()
    statuses = [bot.pass_gate(*gates[1])]
    unhealthy_seen = bot.health()[0] == 503
    while statuses[-1] != 200:
        assert time.monotonic() - frozen_at < 60, bot.answers
        unhealthy_seen = unhealthy_seen or bot.health()[0] == 503
        statuses.append(bot.pass_gate(*gates[1]))
    recovered = time.monotonic() - frozen_at
    _, body = bot.wait_for_health(200)
    for gate in gates[2:]:
        assert bot.pass_gate(*gate) == 200
    assert_each_gate_recorded_once(bot)
    print(
        f"\ndead connections: clicks answered {statuses} in "
        f"{', '.join(f'{s:.2f} s' for _, _, s in bot.answers[1:])}; clicks recorded again "
        f"{recovered:.2f} s after the freeze, on new connections (503 seen: {unhealthy_seen})"
    )
