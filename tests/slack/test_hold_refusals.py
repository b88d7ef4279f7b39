"""Every refusal is in the trail: a Hold refused because user-group membership could not be
looked up is recorded as ``rollback.hold_refused`` (issue 14), and nothing is held."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import ROLLBACK, post, samples
from tests.slack.support import RANKING, Bot, copy_runbooks


def test_a_hold_refused_for_unknown_membership_is_in_the_trail(
    database_url: str, tmp_path: Path
) -> None:
    window = (
        '      window: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00", '
        "timezone: Europe/Berlin}\n      veto_window: 5m"
    )
    runbooks = copy_runbooks(tmp_path, {"ranking-model.yaml": (window, "      veto_window: 1h")})
    slack = SlackEmulator(default_seed()).start()
    slack.slack_error("usergroups.users.list", error="fatal_error", times=1000)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks, slack=slack) as sb:
        bot = Bot(sb)
        post(sb, "metrics", samples("p99_latency_ms", [340, 350, 360, 370, 380, 390],
                                    timedelta(minutes=1)))  # fmt: skip
        sb.settle()
        bot.driver.click("U0DMITRI", RANKING, "Hold")  # on call through S0ONCALL: unknown now
        sb.settle()
        assert any("could not check your roles" in t for t in bot.ephemerals("U0DMITRI"))
        refused = [e for e in bot.trail(ROLLBACK) if e.kind == "rollback.hold_refused"]
        assert len(refused) == 1
        assert refused[0].actor == "U0DMITRI"
        assert refused[0].payload["why"] == "membership_unavailable"
        assert "rollback.held" not in bot.trail_kinds(ROLLBACK)
