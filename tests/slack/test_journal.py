"""The rollback journal end to end: a rollback driven through signed HTTP and the emulator
(alert, Approve clicks, execution, recovery, Endorse) appears in ``releasebot journal`` with
the outcome expected at approval beside the outcome seen at validation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.devtools.emulator.visitor import Visitor
from bot.devtools.sandbox import Sandbox
from tests.slack.rollback_support import (
    ROLLBACK,
    Receiver,
    alert,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.slack.support import RANKING, Bot


def drive_a_recovered_rollback(sandbox: Sandbox, bot: Bot, *, first_votes: int = 0) -> None:
    """Alert → recommendation → two approvals → execution → recovery → endorsement
    (``first_votes``: how many of the approvals were already given)."""
    if first_votes == 0:
        for value in (0.031, 0.036, 0.041):
            assert post(sandbox, "alertmanager", alert(value))[0] == 202
        sandbox.settle()
    button = bot.driver.find_button(RANKING, "Approve")
    for voter in ("U0BRUNO", "U0DMITRI")[first_votes:]:
        bot.driver.click(voter, RANKING, "Approve", button.message.ts)
    wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
    post(
        sandbox, "metrics", samples("error_rate", [0.011, 0.009, 0.008], timedelta(milliseconds=5))
    )
    wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)
    bot.driver.click("U0CHIARA", RANKING, "Endorse")
    wait_until(lambda: "rollback.endorsed" in bot.trail_kinds(ROLLBACK), sandbox)


def test_a_rollbacks_journal_entry_shows_expected_against_actual(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runbooks = rollback_runbooks(tmp_path, receiver)
    with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
        bot = Bot(sandbox)
        drive_a_recovered_rollback(sandbox, bot)
        kinds = bot.trail_kinds(ROLLBACK)
        assert kinds.index("rollback.approved") < kinds.index("rollback.expected")
        assert kinds.index("rollback.expected") < kinds.index("rollback.executed")
        page = Visitor(sandbox.server.url).sign_in("U0CHIARA", start="/journal")
        assert "rollback:1</a>: ranking-model, path previous-model" in page.body
        assert "error_rate back under 0.015 within 1 s of execution" in page.body
        assert '<span class="pill good">recovered</span>' in page.body
        assert "U0CHIARA (ml_lead)" in page.body

    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", database_url)
    assert main(["journal", "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["subject"] == ROLLBACK and entry["runbook"] == "ranking-model"
    assert entry["path"] == "previous-model" and entry["drill"] is False
    expected = entry["expected"]
    # error_rate: above 0.02 with margin 0.005 → back under 0.015, in the 1 s window
    assert expected["metric"] == "error_rate" and expected["direction"] == "above"
    assert expected["inside"] == pytest.approx(0.015)
    assert expected["window_seconds"] == 1.0
    assert expected["track_record"] == "no past uses"
    actual = entry["actual"]
    assert actual["recovered"] is True, actual
    assert actual["outcome"] == "recovered"
    assert [value for _, value in actual["values"]] == [0.011, 0.009, 0.008]
    assert actual["minutes_to_recover"] is not None
    assert entry["endorsed_by"] == "U0CHIARA" and entry["endorsed_role"] == "ml_lead"
    assert len(entry["trail_events"]) == 5  # recommended, expected, executed, validated, endorsed

    assert main(["journal", "ranking-model"]) == 0
    text = capsys.readouterr().out
    assert "## rollback:1: ranking-model, path previous-model" in text
    assert "- Expected: error_rate back under 0.015 within 1 s of execution" in text
    assert "- Actual: recovered in " in text and "values seen: 0.011, 0.009, 0.008" in text
    assert "- Endorsed: U0CHIARA (ml_lead)" in text

    assert main(["journal", "fraud-model"]) == 0
    assert "No approved rollbacks" in capsys.readouterr().out
    assert main(["journal", "--since", "2999-01-01", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["journal", "--since", "yesterday"]) == 2
