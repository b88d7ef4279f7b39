"""`releasebot demo` plays a whole review and a rollback, prints what a person would see, and
keeps its database for the trail commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main


@pytest.mark.parametrize("transport", [[], ["--socket"]], ids=["http", "socket-mode"])
def test_the_demo_reads_like_the_channel_and_ends_with_a_verified_trail(
    transport: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kept = tmp_path / "demo.db"
    assert main(["demo", "--keep", str(kept), *transport]) == 0
    out = capsys.readouterr().out
    assert ("over Socket Mode" in out) == bool(transport)
    assert "#ranking-releases" in out
    assert "🚦 Readiness: Search ranking model v2.4.0" in out
    assert "Review `" not in out  # no stray ids at the end of the checklist
    assert "(only visible to you: @bruno)" in out  # the refused click
    assert "marked Exposure-fairness audit signed off as waived" in out
    assert "The exposure audit runs on Monday's snapshot" in out
    assert "separation of duties" in out
    # the go/no-go's outcome is posted once; the request itself says it was decided
    assert out.count("Go/no-go for ranking-model v2.4.0: APPROVED") == 1
    assert out.count("Go/no-go for ranking-model v2.4.0: PENDING") == 1
    assert out.index("PENDING, 1 of 2") < out.index("Go/no-go for ranking-model v2.4.0: APPROVED")
    # the rollback: recommended from monitoring's samples, approved, run dry, validated
    assert "🚨 Rollback recommended: Search ranking model" in out
    assert "(only visible to you: @elena)" in out
    assert "dry run, nothing changed" in out
    assert "Recovered: `error_rate`" in out
    # the trails, printed for a terminal (no Markdown escapes), then verified
    assert "Decision trail: release:ranking-model:v2.4.0" in out
    assert "Decision trail: rollback:1" in out
    assert "\\_" not in out and "<sub>" not in out
    for kind in ("gate.refused", "conversation.reply", "rollback.executed", "rollback.endorsed"):
        assert kind in out
    assert "trail verify: intact" in out
    assert "signed in with Slack as Chiara Rossi" in out
    assert "release:ranking-model:v2.4.0  go  (" in out
    # and how to explore what was kept
    assert kept.exists()
    assert f"export RELEASEBOT_DATABASE_URL=sqlite:///{kept}" in out
    assert "releasebot trail export rollback:1 --format json" in out
    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", f"sqlite:///{kept}")
    assert main(["trail", "export", "rollback:1", "--format", "text"]) == 0
    exported = capsys.readouterr().out
    assert "rollback.recommended" in exported and "rollback.endorsed" in exported
    assert main(["trail", "export", "release:ranking-model:v2.4.0"]) == 0  # not a terminal: md
    assert capsys.readouterr().out.startswith("# Decision trail: release:ranking-model:v2.4.0")


def test_the_demo_never_reuses_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "old.db"
    kept.write_bytes(b"")
    assert main(["demo", "--keep", str(kept)]) == 1
    assert f"{kept} exists; the demo needs a new database" in capsys.readouterr().err


def test_the_drill_demo_prints_the_channel_and_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "drill.db"
    assert main(["demo", "--drill", "--keep", str(kept)]) == 0
    out = capsys.readouterr().out
    assert "🧪 DRILL: Error-rate spike after a bad deploy" in out
    assert "DRILL · 🚨 Rollback recommended" in out
    assert "Only *release_champion*" in out or "(only visible to you: @elena)" in out
    assert "would have run `deployctl rollback ranking-model --to previous`; nothing was run" in out
    assert "DRILL report: Error-rate spike after a bad deploy" in out
    score = re.search(r"score (\d+)/100", out)  # 86, unless this machine is very slow
    assert score is not None and f"= {score.group(1)}" in out
    assert "trail verify: intact" in out and kept.exists()
