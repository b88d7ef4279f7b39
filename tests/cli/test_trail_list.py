"""``releasebot trail list`` and ``trail export``'s did-you-mean, as a person runs them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.store import append_trail_event, session_scope


@pytest.fixture
def trail(engine: Engine, database_url: str, now: datetime, monkeypatch: pytest.MonkeyPatch) -> str:
    """A release that got its go and a rollback that recovered, in the database's trail."""
    events = [
        ("release.started", "release:ranking-model:v2.4.0", {}),
        ("go_no_go.approved", "release:ranking-model:v2.4.0", {}),
        ("rollback.recommended", "rollback:1", {"runbook": "fraud-model"}),
        ("rollback.approved", "rollback:1", {}),
        ("rollback.executed", "rollback:1", {"outcome": "succeeded"}),
        ("rollback.validated", "rollback:1", {"outcome": "recovered"}),
    ]
    for minutes, (kind, subject, payload) in enumerate(events):
        with session_scope(engine) as session:
            append_trail_event(
                session,
                kind=kind,
                actor="releasebot",
                subject=subject,
                at=now + timedelta(minutes=minutes),
                payload=payload,
            )
    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", database_url)
    return database_url


def test_trail_list_shows_each_subject_with_status_and_dates(
    trail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trail", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "SUBJECT",
        "RUNBOOK",
        "STATUS",
        "OUTCOME",
        "FIRST",
        "EVENT",
        "(UTC)",
        "LAST",
        "EVENT",
        "(UTC)",
        "EVENTS",
    ]
    assert lines[1].split() == [
        "rollback:1",
        "fraud-model",
        "validated",
        "recovered",
        "2025-03-14T09:32:00",
        "2025-03-14T09:35:00",
        "4",
    ]
    assert lines[2].split()[:4] == ["release:ranking-model:v2.4.0", "ranking-model", "go", "go"]


def test_trail_list_filters_by_runbook_and_kind(
    trail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trail", "list", "--kind", "release", "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [item["subject"] for item in listed] == ["release:ranking-model:v2.4.0"]
    assert listed[0]["first_at"] == "2025-03-14T09:30:00.000000Z"
    assert main(["trail", "list", "--runbook", "fraud-model"]) == 0
    out = capsys.readouterr().out
    assert "rollback:1" in out and "release:" not in out
    assert main(["trail", "list", "--runbook", "nope"]) == 0
    assert "no subjects in the trail match" in capsys.readouterr().err
    assert main(["trail", "list", "--since", "yesterday"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_export_of_a_near_miss_suggests_the_subject_meant(
    trail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trail", "export", "release:ranking-model:2.4.0"]) == 1
    err = capsys.readouterr().err
    assert "no trail events for subject 'release:ranking-model:2.4.0'" in err
    assert "did you mean release:ranking-model:v2.4.0?" in err
    assert main(["trail", "export", "rollback:99999"]) == 1
    assert "did you mean" not in capsys.readouterr().err
