"""`releasebot evaluate`: the whole-decision dry run other tools read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ranking-model-error-spike.json"


@pytest.fixture(autouse=True)
def shipped_runbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(ROOT / "runbooks"))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_output_keeps_to_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(EXAMPLE), "--json"
    )
    assert code == 3  # a rollback is recommended
    result = json.loads(out)
    assert set(result) == {"runbook", "now", "criteria", "recommendation"}
    assert result["runbook"] == "ranking-model"
    assert result["now"] == "2026-11-22T10:03:00Z"
    assert [(c["metric"], c["state"]) for c in result["criteria"]] == [
        ("error_rate", "breach"),
        ("p99_latency_ms", "clear"),
        ("ctr", "insufficient_data"),
    ]
    assert all(set(c) == {"metric", "state", "explanation"} for c in result["criteria"])
    recommendation = result["recommendation"]
    assert set(recommendation) == {"path", "score", "alternatives", "approval", "explanation"}
    assert recommendation["path"] == "previous-model"
    assert recommendation["score"] == pytest.approx(1.6)
    assert recommendation["alternatives"] == [
        {
            "path": "shift-to-baseline",
            "score": pytest.approx(2.9),
            "adequate": True,
            "reason": "more disruptive (2.90 > 1.60)",
        },
        {
            "path": "disable-reranker",
            "score": pytest.approx(0.8),
            "adequate": False,
            "reason": "covers up to medium, severity is high; does not address error_rate",
        },
    ]
    assert recommendation["approval"] == {
        "roles": {"oncall": 1, "release_champion": 1},
        "quorum": 2,
    }
    assert "2×0.5 + customer 2×0.3" in recommendation["explanation"]


def test_now_before_the_spike_recommends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "evaluate",
        "--runbook",
        "ranking-model",
        "--samples",
        str(EXAMPLE),
        "--now",
        "2026-11-22T10:01:30Z",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["now"] == "2026-11-22T10:01:30Z"
    assert result["recommendation"] is None
    # two samples cannot show three sustained ones either way: not a breach, not healthy
    assert result["criteria"][0]["state"] == "insufficient_data"


def test_text_output_reads_for_a_person(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(EXAMPLE))
    assert code == 3
    assert "decision: breach at severity high: recommend previous-model" in out
    assert "[BREACH] error_rate" in out and "[NO DATA] ctr" in out
    assert "Approval: oncall ×1, release_champion ×1; 2 approval(s) in all." in out
    assert "the request expires after 20m; the requester's own approval does not count" in out
    assert out.count("approval(s)") == 1  # the rule is stated once


def test_exit_status_tells_a_pipeline_whether_to_roll_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--runbook", "ranking-model", "--samples", str(EXAMPLE)]
    assert run(capsys, *args)[0] == 3
    assert run(capsys, *args, "--now", "2026-11-22T10:01:30Z")[0] == 0
    assert run(capsys, *args, "--now", "not a time")[0] == 1


def test_nan_counts_as_missing_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(EXAMPLE.read_text())
    for sample in document["samples"]:
        if sample["metric"] == "error_rate" and sample["at"] == "2026-11-22T10:02:00Z":
            sample["value"] = "NaN"
    with_nan = tmp_path / "nan.json"
    with_nan.write_text(json.dumps(document).replace('"NaN"', "NaN", 1))
    code, out, err = run(
        capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(with_nan), "--json"
    )
    assert code == 0, err  # one of the three breaching samples is missing: no breach yet
    error_rate = json.loads(out)["criteria"][0]
    assert error_rate["state"] != "breach"
    assert "(1 sample with NaN ignored as missing)" in error_rate["explanation"]
    infinite = tmp_path / "inf.json"
    infinite.write_text(json.dumps(document).replace('"NaN"', '"Infinity"'))
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(infinite))
    assert code == 1 and "must be a finite number" in err


def test_outside_the_repository_it_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RELEASEBOT_RUNBOOKS")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(EXAMPLE))
    assert code == 1
    assert f"unknown runbook 'ranking-model': {tmp_path / 'runbooks'}: no such folder" in err
    assert "RELEASEBOT_RUNBOOKS" in err and "releasebot init" in err


def test_unknown_runbook_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", "--runbook", "nope", "--samples", str(EXAMPLE))
    assert code == 1
    assert "unknown runbook 'nope'" in err and "ranking-model" in err


def test_invalid_samples_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"samples": [{"metric": "error_rate", "value": "high", "at": "x"}]}')
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(bad))
    assert code == 1
    assert "samples.0.value" in err and "samples.0.at" in err


def test_not_json_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("error_rate=0.3")
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(bad))
    assert code == 1 and "invalid samples" in err


def test_missing_file_and_bad_now(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", "/nope.json")
    assert code == 1 and "cannot read /nope.json" in err
    code, _, err = run(
        capsys,
        "evaluate",
        "--runbook",
        "ranking-model",
        "--samples",
        str(EXAMPLE),
        "--now",
        "yesterday",
    )
    assert code == 1 and "--now: not an ISO-8601 time: 'yesterday'" in err
    assert str(EXAMPLE) not in err  # the samples are not to blame


def test_samples_of_unknown_metrics_are_ignored_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "s.json"
    samples.write_text(
        json.dumps({"samples": [{"metric": "gpu_temp", "value": 80, "at": "2026-11-22T10:00:00Z"}]})
    )
    code, out, err = run(
        capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(samples), "--json"
    )
    assert code == 0
    assert "ignoring samples of metrics ranking-model has no criterion for: gpu_temp" in err
    assert json.loads(out)["recommendation"] is None


def test_empty_samples_need_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = tmp_path / "s.json"
    samples.write_text('{"samples": []}')
    code, _, err = run(capsys, "evaluate", "--runbook", "ranking-model", "--samples", str(samples))
    assert code == 1 and "give --now" in err
    code, out, _ = run(
        capsys,
        "evaluate",
        "--runbook",
        "ranking-model",
        "--samples",
        str(samples),
        "--now",
        "2026-11-22T10:00:00Z",
        "--json",
    )
    assert code == 0
    assert {c["state"] for c in json.loads(out)["criteria"]} == {"insufficient_data"}


def test_samples_for_another_runbook_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", "--runbook", "fraud-model", "--samples", str(EXAMPLE))
    assert code == 1 and "is for runbook 'ranking-model'" in err
