"""`releasebot demo` plays a whole review and prints what a person would see."""

from __future__ import annotations

import pytest

from bot.cli import main


@pytest.mark.parametrize("transport", [[], ["--socket"]], ids=["http", "socket-mode"])
def test_the_demo_reads_like_the_channel_and_ends_with_a_verified_trail(
    transport: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", *transport]) == 0
    out = capsys.readouterr().out
    assert ("over Socket Mode" in out) == bool(transport)
    assert "#ranking-releases" in out
    assert "🚦 Readiness: Search ranking model v2.4.0" in out
    assert "(only visible to you: @bruno)" in out  # the refused click
    assert "marked Exposure-fairness audit signed off as waived" in out
    assert "The exposure audit runs on Monday's snapshot" in out
    assert "separation of duties" in out
    assert "Go/no-go for ranking-model v2.4.0: APPROVED" in out
    assert "# Decision trail: release:ranking-model:v2.4.0" in out
    assert "`gate.refused` by U0BRUNO" in out
    assert "`conversation.reply` by U0DMITRI" in out
    assert "trail verify: intact" in out
    assert "signed in with Slack as Chiara Rossi" in out
    assert "release:ranking-model:v2.4.0  go  (" in out
