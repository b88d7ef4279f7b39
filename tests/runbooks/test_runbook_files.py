"""A team writes a runbook; `releasebot check` says exactly where it is wrong."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.runbooks.files import RunbookError, get_runbook, load_runbook_file, load_runbooks

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "runbooks"

VALID = textwrap.dedent(
    """\
    id: checkout-model
    version: 1
    channels: ["C0CHECKOUT"]
    roles:
      oncall: ["S0ONCALL"]
      champion: ["U0ALICE"]
    criteria:
      - metric: error_rate
        above: 0.02
        margin: 0.005
        bounds: [0, 1]
    paths:
      - id: flag-off
        title: Turn the flag off
        kind: feature_flag
        covers: critical
        impact: {revenue: 1, customer: 1, regulatory: 0}
        approval:
          roles: {oncall: 1}
        executor: {type: dry-run}
        validation: {metric: error_rate, window: 10m, endorse_role: champion}
    readiness:
      stages:
        - id: canary
          title: Canary
          gates:
            - id: errors
              title: Errors are fine
              owner: oncall
      go_no_go:
        roles: {champion: 1}
    drills:
      - id: spike
        title: Error spike
        schedule: "0 15 * * wed"
        scenario: {metric: error_rate, values: [0.03, 0.04]}
        expected_path: flag-off
    """
)


def write(tmp_path: Path, text: str, name: str = "checkout-model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    runbook, problems = load_runbook_file(write(tmp_path, text))
    assert runbook is None, "an invalid runbook must not load"
    return [f"{p.line}: {p.field}: {p.message}" for p in problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_runbooks_are_valid() -> None:
    found = load_runbooks(SHIPPED)
    assert found.problems == []
    assert set(found.runbooks) == {"ranking-model", "fraud-model"}
    assert found.runbooks["fraud-model"].risk_tier == "high"


def test_the_valid_example_loads_with_tier_defaults(tmp_path: Path) -> None:
    runbook, problems = load_runbook_file(write(tmp_path, VALID))
    assert problems == []
    assert runbook is not None
    assert runbook.criteria[0].sustain == 3
    assert runbook.paths[0].approval.allow_self_approval is False
    assert runbook.cooldown.total_seconds() == 30 * 60


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace('  champion: ["U0ALICE"]', '  champion: ["U0ALICE"')
    found = problems_of(tmp_path, text)
    assert len(found) == 1
    assert ": yaml: " in found[0]


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\nversion: 2\n")
    found = problems_of(tmp_path, text)
    assert found[0].startswith("3: yaml:")
    assert "duplicate key" in found[0]


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    text = VALID.replace("    margin: 0.005\n", "    margin: 0.005\n    sustian: 3\n")
    assert problems_of(tmp_path, text) == [
        f"{line_of(text, 'sustian')}: criteria[0].sustian: unknown key 'sustian'; "
        "did you mean 'sustain'? (allowed: metric, above, below, margin, sustain, "
        "stale_after, severity, bounds, description, query, interval, baseline_query, compare)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = VALID + "rollbak_paths: []\n"
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'rollbak_paths')}: rollbak_paths: unknown key")


def test_wrong_type_names_the_field_and_line(tmp_path: Path) -> None:
    text = VALID.replace("above: 0.02", 'above: "high"')
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'above:')}: criteria[0].above: ")
    assert "valid number" in found


def test_bad_duration_is_explained(tmp_path: Path) -> None:
    text = VALID.replace("window: 10m", "window: ten minutes")
    [found] = problems_of(tmp_path, text)
    assert "paths[0].validation.window" in found
    assert "expected a duration such as" in found


def test_missing_required_field(tmp_path: Path) -> None:
    text = VALID.replace("    kind: feature_flag\n", "")
    [found] = problems_of(tmp_path, text)
    assert found == f"{line_of(text, '- id: flag-off')}: paths[0].kind: required field is missing"


def test_criterion_needs_one_direction(tmp_path: Path) -> None:
    text = VALID.replace("    above: 0.02\n", "    above: 0.02\n    below: 0.01\n")
    [found] = problems_of(tmp_path, text)
    assert "criteria[0]" in found and "exactly one of 'above' or 'below'" in found


def test_undefined_role_in_a_gate_and_an_approval(tmp_path: Path) -> None:
    text = VALID.replace("owner: oncall", "owner: on_call").replace(
        "roles: {oncall: 1}", "roles: {oncal: 1}"
    )
    found = problems_of(tmp_path, text)
    assert (
        f"{line_of(text, 'owner: on_call')}: readiness.stages[0].gates[0].owner: role "
        "'on_call' is not defined in 'roles' (known: champion, oncall)" in found
    )
    assert any(
        line.startswith(f"{line_of(text, 'oncal: 1')}: paths[0].approval.roles.oncal: role 'oncal'")
        for line in found
    )


def test_invalid_cron(tmp_path: Path) -> None:
    text = VALID.replace('"0 15 * * wed"', '"0 25 * * wed"')
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'schedule:')}: drills[0].schedule: invalid cron")


def test_cron_with_wrong_field_count(tmp_path: Path) -> None:
    text = VALID.replace('"0 15 * * wed"', '"every wednesday"')
    [found] = problems_of(tmp_path, text)
    assert "drills[0].schedule: invalid cron expression 'every wednesday'" in found


def test_drill_starters_must_be_defined_roles_and_timeout_a_duration(tmp_path: Path) -> None:
    line = next(x for x in VALID.splitlines() if "expected_path: flag-off" in x)
    indent = line[: len(line) - len(line.lstrip())]
    text = VALID.replace(
        line + "\n", f"{line}\n{indent}starters: [oncall, game_master]\n{indent}timeout: 10m\n"
    )
    [found] = problems_of(tmp_path, text)
    assert "drills[0].starters[1]: role 'game_master' is not defined in 'roles'" in found
    runbook, problems = load_runbook_file(write(tmp_path, text.replace(", game_master", "")))
    assert problems == [] and runbook is not None
    assert runbook.drills[0].starters == ["oncall"]
    assert runbook.drills[0].timeout.total_seconds() == 600


def test_impossible_margin_never_clears(tmp_path: Path) -> None:
    text = VALID.replace("margin: 0.005", "margin: 0.03")
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'margin: 0.03')}: criteria[0].margin: margin makes")
    assert "never goes below 0" in found


def test_impossible_margin_never_breaches(tmp_path: Path) -> None:
    text = VALID.replace("above: 0.02", "above: 0.98").replace("margin: 0.005", "margin: 0.05")
    [found] = problems_of(tmp_path, text)
    assert "criteria[0].margin" in found and "never exceeds 1" in found


def test_drill_naming_unknown_path_and_metric(tmp_path: Path) -> None:
    text = VALID.replace("expected_path: flag-off", "expected_path: flag-of").replace(
        "scenario: {metric: error_rate", "scenario: {metric: errors"
    )
    found = problems_of(tmp_path, text)
    assert any("drills[0].scenario.metric: metric 'errors' has no criterion" in f for f in found)
    assert any("drills[0].expected_path: path 'flag-of' is not defined" in f for f in found)


def test_high_risk_tier_requires_two_approvals(tmp_path: Path) -> None:
    text = VALID.replace("version: 1\n", "version: 1\nrisk_tier: high\n")
    found = problems_of(tmp_path, text)
    assert any(
        "paths[0].approval.roles: needs 1 approval(s), but a high-risk runbook requires "
        "at least 2" in f
        for f in found
    )


def test_no_path_covers_the_severity(tmp_path: Path) -> None:
    text = VALID.replace("covers: critical", "covers: low")
    [found] = problems_of(tmp_path, text)
    assert "criteria[0].severity: no rollback path addresses error_rate" in found


def test_duplicate_runbook_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    found = load_runbooks(tmp_path)
    assert list(found.runbooks) == ["checkout-model"]
    assert [str(p) for p in found.problems] == [
        f"{tmp_path / 'b.yaml'}:1: id: runbook id 'checkout-model' is already used by "
        f"{tmp_path / 'a.yaml'}"
    ]


def test_get_runbook_explains_unknown_and_invalid(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    with pytest.raises(RunbookError, match="unknown runbook 'nope'.*known: checkout-model"):
        get_runbook(tmp_path, "nope")
    write(
        tmp_path,
        VALID.replace("id: checkout-model", "id: broken").replace("above", "abov"),
        "broken.yaml",
    )
    with pytest.raises(RunbookError, match="runbook 'broken' is invalid"):
        get_runbook(tmp_path, "broken")


def test_check_command_passes_on_shipped_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(SHIPPED))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    assert main(["check"]) == 0
    assert "2 runbook(s) (fraud-model v7, ranking-model v3)" in capsys.readouterr().out


def test_check_command_prints_path_line_field_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = VALID.replace("owner: oncall", "owner: on_call")
    path = write(tmp_path, text)
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(tmp_path))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:{line_of(text, 'owner: on_call')}: readiness.stages[0].gates[0].owner: "
        "role 'on_call' is not defined in 'roles' (known: champion, oncall)"
    ]


def test_query_backed_criteria_are_checked_with_their_lines(tmp_path: Path) -> None:
    text = VALID.replace(
        "    margin: 0.005\n",
        "    margin: 0.005\n"
        "    query: 'sum(rate(errors{job=\"checkout\"}[5m])'\n"
        "    interval: 15m\n"
        "    stale_after: 10m\n",
    )
    assert problems_of(tmp_path, text) == [
        f"{line_of(text, 'interval:')}: criteria[0].interval: the query runs every 15m, not "
        "more often than stale_after (10m): every reading would be stale before the next",
        f"{line_of(text, 'query:')}: criteria[0].query: missing ')' in the query",
    ]
    fine = VALID.replace(
        "    margin: 0.005\n",
        "    margin: 0.005\n    query: 'sum(rate(errors[5m]))'\n    interval: 30s\n",
    ).replace(
        "channels:", "prometheus: {url: 'http://prometheus:9090', token_env: PROM_TOKEN}\nchannels:"
    )
    runbook, problems = load_runbook_file(write(tmp_path, fine))
    assert problems == [] and runbook is not None
    assert runbook.prometheus is not None and runbook.prometheus.token_env == "PROM_TOKEN"


def test_gate_checks_name_a_criterion_or_a_balanced_query(tmp_path: Path) -> None:
    text = VALID.replace(
        "          owner: oncall\n",
        "          owner: oncall\n"
        "          check: {criterion: latency, for: 1h}\n",
    )
    assert problems_of(tmp_path, text) == [
        f"{line_of(text, 'check:')}: readiness.stages[0].gates[0].check.criterion: metric "
        "'latency' has no criterion (known: error_rate)"
    ]
    text = VALID.replace(
        "          owner: oncall\n",
        "          owner: oncall\n"
        "          check: {query: 'sum(errors', below: 0.02, for: 1h}\n",
    )
    assert problems_of(tmp_path, text) == [
        f"{line_of(text, 'check:')}: readiness.stages[0].gates[0].check.query: missing ')' in "
        "the query"
    ]
    fine = VALID.replace(
        "          owner: oncall\n",
        "          owner: oncall\n"
        "          check: {criterion: error_rate, for: 1h, step: 5m}\n",
    )
    runbook, problems = load_runbook_file(write(tmp_path, fine))
    assert problems == [] and runbook is not None
    gate = runbook.gate("errors")
    assert gate is not None and gate.check is not None
    assert gate.check.held_for == timedelta(hours=1)


def test_the_monitoring_example_runbook_is_valid(tmp_path: Path) -> None:
    example = SHIPPED.parent / "examples" / "canary-model.yaml"
    runbook, problems = load_runbook_file(example)
    assert problems == [] and runbook is not None
    relative = runbook.criterion("canary_latency_vs_baseline")
    assert relative is not None and relative.compare == "percent"


def test_check_notes_a_runbook_that_asks_prometheus_without_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = VALID.replace("    margin: 0.005\n", "    margin: 0.005\n    query: errors\n")
    write(tmp_path, text)
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(tmp_path))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    monkeypatch.delenv("RELEASEBOT_PROMETHEUS_URL", raising=False)
    assert main(["check"]) == 0  # valid: a note, not a problem
    assert "note: checkout-model asks Prometheus but has no server" in capsys.readouterr().err
    monkeypatch.setenv("RELEASEBOT_PROMETHEUS_URL", "http://prometheus:9090")
    assert main(["check"]) == 0
    assert "note:" not in capsys.readouterr().err
