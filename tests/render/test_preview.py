"""`releasebot preview TEMPLATE --runbook ID` prints the Block Kit JSON of sample data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def shipped_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(ROOT / "runbooks"))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_preview_prints_the_rendered_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "preview", "rollback_recommendation", "--runbook", "ranking-model")

    assert code == 0, err
    message = json.loads(out)
    assert set(message) == {"text", "blocks"}
    assert out.startswith('{\n  "text"')  # indented by two
    assert "Search ranking model" in message["blocks"][0]["text"]["text"]


def test_preview_of_the_modal_prints_a_view(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "preview", "reason_modal", "--runbook", "fraud-model")

    assert code == 0
    assert json.loads(out)["type"] == "modal"


def test_an_unknown_template_lists_the_templates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "preview", "rollback_recomendation", "--runbook", "ranking-model")

    assert code == 1 and out == ""
    assert "unknown template 'rollback_recomendation'" in err
    assert "rollback_recommendation" in err and "readiness_checklist" in err


def test_an_unknown_runbook_lists_the_runbooks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "preview", "gate_update", "--runbook", "ranking")

    assert code == 1 and out == ""
    assert "unknown runbook 'ranking'" in err
    assert "fraud-model, ranking-model" in err
